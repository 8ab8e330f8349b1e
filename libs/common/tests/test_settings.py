import subprocess
import sys

import pytest

SERVICES = [("twofold_auth", "AUTH"), ("twofold_registration", "REGISTRATION"), ("twofold_vault", "VAULT")]
STRONG = "s" * 48


def run_service(module: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", module], env={"PATH": "/usr/bin:/bin", **env},
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("module", "prefix"), SERVICES)
def test_production_without_a_database_url_refuses_to_start(module: str, prefix: str) -> None:
    done = run_service(module, {f"{prefix}_ENVIRONMENT": "production", f"{prefix}_INTERNAL_AUTH_SECRET": STRONG})
    assert done.returncode == 2
    assert f"{prefix}_DATABASE_URL" in done.stderr


@pytest.mark.parametrize(("module", "prefix"), [*SERVICES, ("twofold_gateway", "GATEWAY")])
@pytest.mark.parametrize("secret", [None, "dev-internal-secret-change-me-0123456789", "short"])
def test_production_with_a_missing_default_or_weak_secret_refuses_to_start(module: str, prefix: str,
                                                                             secret: str | None) -> None:
    env = {f"{prefix}_ENVIRONMENT": "production", f"{prefix}_DATABASE_URL": "postgresql://svc:pw@db/svc"}
    if secret is not None:
        env[f"{prefix}_INTERNAL_AUTH_SECRET"] = secret
    done = run_service(module, env)
    assert done.returncode == 2
    assert f"{prefix}_INTERNAL_AUTH_SECRET" in done.stderr


def test_handled_event_ids_kept_shorter_than_the_topics_keep_records_refuses_to_start() -> None:
    """A replay of an event whose id was already deleted would be handled twice."""
    done = run_service("twofold_auth", {"AUTH_KAFKA_TOPIC_RETENTION_HOURS": "200",
                                        "AUTH_PROCESSED_EVENTS_RETENTION_HOURS": "100"})
    assert done.returncode == 2
    assert "AUTH_PROCESSED_EVENTS_RETENTION_HOURS must be at least AUTH_KAFKA_TOPIC_RETENTION_HOURS" in done.stderr
