"""deploy/checks/run.sh fails on a broken compose file, a broken manifest, a Dockerfile lint error, an alert rule
that its unit tests catch, and a dashboard query naming a metric no service exports.

Each case breaks one file in a copy of the deployment files and runs only the
check concerned (the tools are cached after the first run of run.sh).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "deploy" / "checks" / "run.sh"

BREAKAGES = {
    # a key the Compose Specification does not know
    "compose": ("docker-compose.yml", "    restart: unless-stopped\n", "    restarts: unless-stopped\n",
                "must NOT have additional properties"),
    # a field Kubernetes does not have (strict schemas)
    "k8s": ("deploy/k8s/base/auth/deployment.yaml", "                secretKeyRef:\n", "                secretRef:\n",
            "'secretRef' was unexpected"),
    # an unpinned pip install
    "dockerfile": ("deploy/docker/Dockerfile", 'pip install --no-cache-dir "uv==${UV_VERSION}"', "pip install uv",
                   "DL3013"),
    # an unquoted expansion in the PostgreSQL init script
    "shell": ("deploy/docker/postgres/init-databases.sh", '  if [ -z "$password" ]; then',
              "  if [ -z $password ]; then", "SC2086"),
    # a secret written into a manifest instead of referenced
    "policy": ("deploy/k8s/base/kustomization.yaml", "      - VAULT_LOG_LEVEL=INFO\n",
               "      - VAULT_LOG_LEVEL=INFO\n      - VAULT_RECOVERY_CODE_PEPPER=oops\n", "is in a ConfigMap"),
    # an outbox alert ten times too patient: its unit test expects it to fire after five minutes
    "prometheus": ("deploy/prometheus/alerts.yaml", "(twofold_outbox_oldest_unpublished_age_seconds) > 300",
                   "(twofold_outbox_oldest_unpublished_age_seconds) > 3000", "alertname: TwofoldOutboxStuck"),
    # a panel querying a metric no service declares
    "dashboard": ("deploy/grafana/twofold.json", "(twofold_consumer_lag_events)", "(twofold_consumer_lag)",
                  "twofold_consumer_lag is not a metric the services export"),
}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    copy = tmp_path / "repo"
    shutil.copytree(ROOT / "deploy", copy / "deploy", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "docker-compose.yml", copy / "docker-compose.yml")
    # the code that declares the metrics the dashboard may name
    for src in [ROOT / "libs" / "common" / "src", *(ROOT / "services").glob("*/src")]:
        shutil.copytree(src, copy / src.relative_to(ROOT), ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def run_checks(tree: Path, check: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(RUN), "--only", check, str(tree)], capture_output=True, text=True, timeout=900)


@pytest.mark.timeout(900)
@pytest.mark.parametrize("check", BREAKAGES)
def test_run_sh_fails_on_a_broken_file_and_passes_on_the_intact_copy(tree: Path, check: str) -> None:
    intact = run_checks(tree, check)
    assert intact.returncode == 0, intact.stdout + intact.stderr

    path, old, new, message = BREAKAGES[check]
    text = (tree / path).read_text()
    assert old in text, f"{path} no longer contains the line this test breaks"
    (tree / path).write_text(text.replace(old, new, 1))
    broken = run_checks(tree, check)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert message in broken.stdout + broken.stderr
    assert f"checks: {check}: FAILED" in broken.stderr
