"""The integration guide's examples run against the real system: Python, JavaScript (Node) and curl.

Besides the calls, each example checks the redirect back to the app as the guide says an app must: the signature
over the decoded query (a space may arrive as ``+`` or ``%20``), the timestamp's age, and that the registration is
one the app itself started (kept in its own store).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import urlencode

import pyotp
import pytest

from twofold_common import redirect_signature

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"
RUNNERS = {
    "python": ["python3", str(EXAMPLES / "twofold_app.py")],
    "javascript": ["node", str(EXAMPLES / "twofold_app.mjs")],
    "curl": ["bash", str(EXAMPLES / "twofold_app.sh")],
}
CALLBACK_URL = "https://app.example.com/2fa/done"


@pytest.mark.parametrize("language", sorted(RUNNERS))
async def test_an_app_integrates_with_the_documented_example(system, language: str, tmp_path: Path) -> None:
    runner = RUNNERS[language]
    if shutil.which(runner[0]) is None:
        pytest.fail(f"{runner[0]} is needed to run the {language} example")
    app = system.create_app("--callback-url", CALLBACK_URL)
    env = {**os.environ, "TWOFOLD_URL": system.gateway.url, "TWOFOLD_CLIENT_ID": app["clientId"],
           "TWOFOLD_CLIENT_SECRET": app["clientSecret"], "TWOFOLD_APP_STORE": str(tmp_path / "started")}

    async def run(*args: str) -> subprocess.CompletedProcess[str]:
        # in a thread: the services this talks to run on the test's own event loop
        return await asyncio.to_thread(subprocess.run, [*runner, *args], env=env, capture_output=True, text=True,
                                       timeout=60)

    async def output(*args: str) -> dict:
        done = await run(*args)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    async def check(url: str) -> str:
        """The account the redirect is about, or "refused: <why>"."""
        checked = await run("check-redirect", url)
        if language == "curl":  # prints "accepted ACCOUNT" (exit 0) or "refused: REASON" (exit 1)
            assert (checked.returncode == 0) == checked.stdout.startswith("accepted "), checked
            return checked.stdout.strip().removeprefix("accepted ")
        verdict = json.loads(checked.stdout)
        return verdict["account"] if verdict["accepted"] else f"refused: {verdict['reason']}"

    # the person accepts at the provider and comes back to the app
    setup = await output("setup", "acct-ex", CALLBACK_URL)
    callback, enrollment = system.provider.accept(setup["deepLink"])
    location = (await system.browse(callback)).headers["location"]
    assert await check(location) == "acct-ex"
    assert await check(location.replace("success=true", "success=false")) == "refused: bad signature"
    assert (await output("status", setup["registrationToken"]))["status"] == "completed"
    assert await output("verify", "acct-ex", enrollment.code_at(enrollment.current_step() + 1)) == {"valid": True}
    # an account the app never enrolled is not an error: the same answer as a wrong code
    assert await output("verify", "acct-never-enrolled", "123456") == {"valid": False}

    # a declined setup: the provider's reason has a space and a plus; the same query encoded another way
    declined = await output("setup", "acct-no", CALLBACK_URL)
    back = (await system.browse(system.provider.decline(declined["deepLink"], error="no: user+friend said no")))
    location = back.headers["location"]
    assert "+said+" in location and "%2B" in location and "%3A" in location
    assert await check(location) == "acct-no"
    assert await check(location.replace("+", "%20").replace("%3A", ":")) == "acct-no"

    # genuine signatures (the app's own key) over what twofold would never send the app now
    def signed(**params: str) -> str:
        key = redirect_signature.redirect_key(app["clientSecret"])
        return f"{CALLBACK_URL}?{urlencode({**params, 'signature': redirect_signature.sign(key, params)})}"

    now_ms = int(time.time() * 1000)
    stale = signed(regToken=setup["registrationToken"], success="true", seedId="s1", timestamp=str(now_ms - 600_000))
    assert await check(stale) == "refused: stale timestamp"
    elsewhere = signed(regToken="reg_started_by_someone_else", success="true", seedId="s1", timestamp=str(now_ms))
    assert await check(elsewhere) == "refused: not started here"

    # native enrollment: the app shows the QR code, then confirms with the first code the person's app shows
    native = await output("setup-native", "acct-qr")
    totp = pyotp.parse_uri(native["otpauthUri"])
    assert (await output("confirm", native["registrationToken"], totp.now()))["status"] == "completed"
    step = int(time.time()) // totp.interval + 1
    assert await output("verify", "acct-qr", totp.at(step * totp.interval)) == {"valid": True}
