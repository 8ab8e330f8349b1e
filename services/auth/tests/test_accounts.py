"""Enrollment outcome, 2FA management, deletion, audit chain and adoption figures."""

from __future__ import annotations

import json
import uuid

import pytest

from twofold_common.testing.http import bearer
from twofold_common.testing.waiting import eventually


async def test_registration_completed_turns_2fa_on_once_and_third_party_events_are_ignored(auth_stack) -> None:
    user = await auth_stack.enroll(await auth_stack.register())
    # a completion for a third-party app's account, handled by auth meanwhile, has no effect on auth's users
    await auth_stack.enroll_app_account(f"acct-{uuid.uuid4().hex[:8]}")
    row = (await auth_stack.sql("SELECT status, totp_enabled, totp_seed_id FROM users WHERE id = $1",
                      user.user_id))[0]
    assert (row["status"], row["totp_enabled"], row["totp_seed_id"]) == ("active", True, user.seed_id)
    events = await auth_stack.events_about(user.user_id, {"user.registered.v1", "user.2fa_enabled.v1"})
    assert {"user.registered.v1", "user.2fa_enabled.v1"} <= events


async def test_2fa_status_reenrollment_and_account_deletion(auth_stack) -> None:
    user = await auth_stack.enroll(await auth_stack.register())
    tokens = await auth_stack.sign_in(user)
    status = (await auth_stack.http.get("/api/auth/2fa/status", headers=bearer(tokens["accessToken"]))).json()
    assert status["enabled"] is True and status["seedId"] == user.seed_id and status["setupCompletedAt"]

    reenroll = await auth_stack.http.post("/api/auth/2fa/re-enroll", headers=bearer(tokens["accessToken"]),
                                          json={"code": user.authenticator.wrong_code()})
    assert reenroll.status_code == 401  # changes to 2FA need a fresh second factor
    reenroll = await auth_stack.http.post("/api/auth/2fa/re-enroll", headers=bearer(tokens["accessToken"]),
                                          json={"code": await user.authenticator.fresh_code()})
    assert reenroll.status_code == 200 and reenroll.json()["setupToken"]

    deleted = await auth_stack.http.post("/api/auth/account/delete", headers=bearer(tokens["accessToken"]),
                                         json={"code": await user.authenticator.fresh_code()})
    assert deleted.status_code == 204
    assert (await auth_stack.http.get("/api/auth/sessions", headers=bearer(tokens["accessToken"]))).status_code == 401
    assert (await auth_stack.login(user)).status_code == 401
    assert "user.deleted.v1" in await auth_stack.events_about(user.user_id, {"user.deleted.v1", "session.revoked.v1"})
    # the same email can register again
    again = await auth_stack.http.post("/api/auth/register", json={"email": user.email, "password": user.password})
    assert again.status_code == 201


@pytest.mark.own_stack  # tampers with the whole audit chain, counts every enrolled account
async def test_audit_log_is_readable_chained_and_tamper_evident(auth_stack) -> None:
    user = await auth_stack.enroll(await auth_stack.register())
    challenge = (await auth_stack.login(user)).json()["challengeToken"]
    await auth_stack.http.post("/api/auth/login/2fa", json={"challengeToken": challenge,
                                                            "code": user.authenticator.wrong_code()})
    tokens = await auth_stack.sign_in(user)
    mine = (await auth_stack.http.get("/api/auth/audit", headers=bearer(tokens["accessToken"]))).json()["entries"]
    outcomes = [(e["action"], e["outcome"]) for e in mine]
    assert ("login.second_factor", "failure") in outcomes and ("login.second_factor", "success") in outcomes
    assert all(e["userId"] == str(user.user_id) for e in mine)

    admin = auth_stack.create_client("--scope", "admin")
    adoption = await auth_stack.http.get("/api/admin/adoption", auth=(admin["clientId"], admin["clientSecret"]))
    assert adoption.status_code == 200
    assert adoption.json() == {"users": 1, "enrolled": 1, "share": 1.0}  # this test's own stack: its one user

    # rows are chained by the periodic seal, about a second after their commit
    await eventually(lambda: _all_sealed(auth_stack))
    await auth_stack.sql("UPDATE audit_log SET outcome = 'success' WHERE outcome = 'failure'")
    tampered = auth_stack.cli("verify-audit")
    assert tampered.returncode == 1 and "broken at row" in tampered.stderr


async def _all_sealed(auth_stack) -> bool:
    done = auth_stack.cli("verify-audit")
    assert done.returncode == 0, done.stderr
    return "intact; 0 newer rows not sealed" in done.stdout


@pytest.mark.own_stack  # lists every client
def test_client_callback_urls_are_checked_by_the_cli(auth_stack) -> None:
    done = auth_stack.cli("create-client", "--name", "bad", "--callback-url", "javascript:alert(1)")
    assert done.returncode == 2 and "callback" in done.stderr.lower()
    listed = auth_stack.cli("list-clients")
    assert [json.loads(line)["name"] for line in listed.stdout.splitlines()] == []


async def test_expired_sessions_are_cleaned_by_the_periodic_job(auth_stack) -> None:
    user = await auth_stack.enroll(await auth_stack.register())
    tokens = await auth_stack.sign_in(user)
    await auth_stack.sql("UPDATE sessions SET expires_at = now() - interval '2 days' WHERE user_id = $1", user.user_id)

    async def tokens_left() -> bool:  # the job runs every 2 s in these tests
        rows = await auth_stack.sql("SELECT count(*) AS n FROM refresh_tokens WHERE session_id = $1",
                                    uuid.UUID(tokens["sessionId"]))
        return rows[0]["n"] == 0

    await eventually(tokens_left, timeout=20)
    assert (await auth_stack.sql("SELECT count(*) AS n FROM sessions WHERE user_id = $1", user.user_id))[0]["n"] == 0
