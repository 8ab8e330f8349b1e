"""The integration guide's examples run against the real system: Python, JavaScript (Node) and curl."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"
RUNNERS = {
    "python": ["python3", str(EXAMPLES / "twofold_app.py")],
    "javascript": ["node", str(EXAMPLES / "twofold_app.mjs")],
    "curl": ["bash", str(EXAMPLES / "twofold_app.sh")],
}


@pytest.mark.parametrize("language", sorted(RUNNERS))
async def test_an_app_integrates_with_the_documented_example(system, language: str) -> None:
    runner = RUNNERS[language]
    if shutil.which(runner[0]) is None:
        pytest.fail(f"{runner[0]} is needed to run the {language} example")
    callback_url = "https://app.example.com/2fa/done"
    app = system.create_app("--callback-url", callback_url)
    env = {**os.environ, "TWOFOLD_URL": system.gateway.url, "TWOFOLD_CLIENT_ID": app["clientId"],
           "TWOFOLD_CLIENT_SECRET": app["clientSecret"]}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*runner, *args], env=env, capture_output=True, text=True, timeout=60)

    started = run("setup", "acct-ex", callback_url)
    assert started.returncode == 0, started.stderr
    setup = json.loads(started.stdout)
    callback, enrollment = system.provider.accept(setup["deepLink"])
    location = (await system.browse(callback)).headers["location"]

    def genuine(url: str) -> bool:
        checked = run("check-redirect", url)
        if language == "curl":
            return checked.returncode == 0 and checked.stdout.strip() == "genuine"
        return json.loads(checked.stdout)["genuine"]

    assert genuine(location)
    assert not genuine(location.replace("success=true", "success=false"))

    status = run("status", setup["registrationToken"])
    assert json.loads(status.stdout)["status"] == "completed"
    verdict = run("verify", "acct-ex", enrollment.code_at(enrollment.current_step() + 1))
    assert json.loads(verdict.stdout) == {"valid": True}
