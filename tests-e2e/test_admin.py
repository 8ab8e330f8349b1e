"""An operator's daily work: auth's admin commands as an operator runs them (real processes) and the admin API
through the gateway, with their effects seen by the person, the apps, the vault and registration."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios

from twofold_common.testing.http import bearer
from twofold_common.testing.processes import service_command
from twofold_common.testing.waiting import eventually


def command_env(system) -> dict[str, str]:
    # the service migrated its database already: a command need not look
    return {**system.stack["auth"].env, "AUTH_MIGRATE_ON_START": "false"}


async def admin(system, *args: str, code: int = 0) -> dict:
    """One of auth's admin commands as an operator runs it; its JSON answer.  In a thread: some commands call the
    vault, which may serve from this test's event loop."""
    done = await asyncio.to_thread(service_command, "twofold_auth", command_env(system), *args)
    assert done.returncode == code, done.stderr
    return json.loads(done.stdout) if code == 0 else {"error": done.stderr}


_admin_keys: dict[str, tuple[str, str]] = {}


def admin_key(system) -> tuple[str, str]:
    """The API key of an admin client (operators' tooling), one per system."""
    url = system.stack["auth"].url
    if url not in _admin_keys:
        made = system.create_app("--scope", "admin")
        _admin_keys[url] = (made["clientId"], made["clientSecret"])
    return _admin_keys[url]


async def audit_rows(system, action: str, **where: str) -> list[dict]:
    rows = await system.sql("auth", "SELECT user_id::text, details FROM audit_log WHERE action = $1 ORDER BY id",
                            action)
    found = [{"user_id": row["user_id"], **json.loads(row["details"])} for row in rows]
    return [row for row in found if all(row.get(k) == v for k, v in where.items())]


async def test_an_operator_finds_a_locked_out_user_by_email_and_unlocks_them(system) -> None:
    person = await system.enroll(await system.register())
    await system.lock_out(person)
    # the email as the person might type it: the lookup is the login's
    found = await admin(system, "find-user", "--email", person.email.upper(), "--operator", "alice")
    assert found["userId"] == person.user_id and found["status"] == "locked" and found["locked"]
    assert found["twoFactorEnabled"] and found["authenticator"] == "legitate" and found["liveSessions"] == 0

    await admin(system, "unlock-user", "--email", person.email, "--operator", "alice", "--reason", "ticket 42")
    assert "error" in await admin(system, "unlock-user", "--email", "nobody@example.com", code=1)
    await system.sign_in(person)  # the failures that locked it no longer count
    [row] = await audit_rows(system, "account.unlock", user_id=person.user_id)
    assert row == {"user_id": person.user_id, "operator": "alice", "via": "cli", "reason": "ticket 42"}
    assert await audit_rows(system, "admin.user.find", user_id=person.user_id, operator="alice")


async def test_a_2fa_reset_drops_the_authenticator_ends_sessions_and_leads_to_enrollment_again(system) -> None:
    person = await system.enroll(await system.register())
    tokens = await system.sign_in(person)
    # a re-enrollment started before the reset (by whoever held the phone) ends with it
    replacing = await system.http.post("/api/auth/2fa/re-enroll", headers=bearer(tokens["accessToken"]),
                                       json={"code": await person.code()})
    started = await system.http.post("/api/auth/setup-2fa", json={},
                                     headers=bearer(replacing.json()["setupToken"]))
    assert started.status_code == 201, started.text

    reset = await admin(system, "reset-2fa", "--email", person.email, "--operator", "bob", "--reason", "lost phone")
    assert reset == {"sessionsRevoked": 1}
    refresh = await system.http.post("/api/auth/token/refresh", json={"refreshToken": tokens["refreshToken"]})
    assert refresh.status_code == 401
    setup = (await system.login(person)).json()
    assert setup["status"] == "2fa_setup_required"

    async def vault_forgot() -> bool:
        seeds = await system.sql("vault", "SELECT 1 FROM seeds WHERE subject = $1 AND status <> 'revoked'",
                                 person.user_id)
        codes = await system.sql("vault", "SELECT 1 FROM recovery_codes WHERE subject = $1", person.user_id)
        return not seeds and not codes

    await eventually(vault_forgot)

    async def pending_ended() -> bool:
        rows = await system.sql("registration", "SELECT status, status_reason FROM registrations "
                                                "WHERE user_id = $1::uuid AND status_reason = '2fa-reset'",
                                person.user_id)
        return bool(rows) and rows[0]["status"] == "expired"

    await eventually(pending_ended)
    person.setup_token = setup["setupToken"]
    await system.enroll(person)  # a first enrollment again, which the reset event (already handled) leaves alone
    await system.sign_in(person)
    [row] = await audit_rows(system, "admin.2fa.reset", user_id=person.user_id)
    assert row["operator"] == "bob" and row["via"] == "cli" and row["reason"] == "lost phone"


async def test_the_admin_api_revokes_a_users_sessions_in_the_name_of_its_admin_client(system) -> None:
    key = admin_key(system)
    person = await system.enroll(await system.register())
    tokens = await system.sign_in(person)
    found = await system.http.post("/api/admin/users/find", auth=key, json={"email": person.email})
    assert found.status_code == 200 and found.json()["liveSessions"] == 1
    revoked = await system.http.post(f"/api/admin/users/{person.user_id}/revoke-sessions", auth=key,
                                     json={"reason": "suspicious sign-in"})
    assert revoked.json() == {"sessionsRevoked": 1}
    refresh = await system.http.post("/api/auth/token/refresh", json={"refreshToken": tokens["refreshToken"]})
    assert refresh.status_code == 401
    [row] = await audit_rows(system, "admin.sessions.revoke", user_id=person.user_id)
    assert row["operator"] == key[0] and row["via"] == "api"
    bad = await system.http.post("/api/admin/clients/x/rotate-secret", auth=key, json={"overlapSeconds": -1})
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    unknown = await system.http.post("/api/admin/users/find", auth=key, json={"email": "nobody@example.com"})
    assert unknown.status_code == 404 and unknown.json()["type"].endswith("user-not-found")


async def token_endpoint(system, client_id: str, secret: str) -> int:
    """How the token endpoint answers the client: 400 (a bad grant, so the client was authenticated) or 401."""
    answer = await system.http.post("/oauth2/token", auth=(client_id, secret),
                                    data={"grant_type": "refresh_token", "refresh_token": "rt_not-a-token"})
    return answer.status_code


async def test_a_rotated_secret_works_until_the_overlap_ends_and_a_disabled_client_until_enabled(system) -> None:
    app = system.create_app()
    client_id, old = app["clientId"], app["clientSecret"]
    assert "error" in await admin(system, "rotate-client-secret", "--client-id", client_id, "--overlap", "soon", code=2)
    rotated = await admin(system, "rotate-client-secret", "--client-id", client_id, "--overlap", "2s",
                          "--operator", "dan")
    new = rotated["clientSecret"]
    assert new != old and rotated["previousSecretUntil"]
    assert await token_endpoint(system, client_id, old) == 400
    assert await token_endpoint(system, client_id, new) == 400
    # the gateway's API key check asks auth the same (the new secret is left out of the gateway's cache here)
    verify = await system.http.post("/api/v1/verify", auth=(client_id, old), json={"account": "a", "code": "123456"})
    assert verify.status_code == 200, verify.text
    await eventually(lambda: _is(token_endpoint(system, client_id, old), 401), timeout=10)
    assert await token_endpoint(system, client_id, new) == 400
    [row] = await audit_rows(system, "admin.client.rotate_secret", client_id=client_id)
    assert row["operator"] == "dan" and row["overlap_seconds"] == "2" and new not in json.dumps(row)

    disabled = await admin(system, "disable-client", "--client-id", client_id, "--operator", "carol")
    assert disabled["disabled"] and disabled["changed"]
    assert await token_endpoint(system, client_id, new) == 401
    api_key = await system.http.post("/api/v1/verify", auth=(client_id, new), json={"account": "a", "code": "1"})
    assert api_key.status_code == 401 and api_key.headers["content-type"] == "application/problem+json"
    key = admin_key(system)
    [listed] = [c for c in (await system.http.get("/api/admin/clients", auth=key)).json() if c["clientId"] == client_id]
    assert listed["disabled"] and listed["disabledAt"]
    assert (await system.http.post("/api/admin/clients/cl_none/disable", auth=key)).status_code == 404
    enabled = await system.http.post(f"/api/admin/clients/{client_id}/enable", auth=key, json={"reason": "paid"})
    assert enabled.json()["disabled"] is False
    assert await token_endpoint(system, client_id, new) == 400
    assert [r["operator"] for r in await audit_rows(system, "admin.client.disable", client_id=client_id)] == ["carol"]


async def _is(answer, expected: int) -> bool:
    return await answer == expected


def verify_audit(system, stderr: int | None) -> tuple[str, str]:
    """``verify-audit`` with its stderr on a pseudo-terminal (``stderr`` is its other end) or a pipe (None)."""
    env = {**os.environ, **command_env(system)}
    done = subprocess.run([sys.executable, "-m", "twofold_auth", "verify-audit"], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE if stderr is None else stderr, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout, done.stderr or ""


def test_verify_audit_shows_progress_redrawn_on_a_terminal_and_in_plain_lines_otherwise(system) -> None:
    stdout, stderr = verify_audit(system, None)
    assert stdout.startswith("audit chain intact")
    progress = [line for line in stderr.splitlines() if line.startswith("verify-audit:")]
    assert progress and "\r" not in stderr and "rows/s" in progress[-1]
    counted = re.search(r" (\d+)/(\d+) ", progress[-1])
    assert counted and counted[1] == counted[2]  # rows done of the total

    terminal, other_end = pty.openpty()
    fcntl.ioctl(other_end, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a terminal's size
    try:
        stdout, _ = verify_audit(system, other_end)
        os.close(other_end)
        drawn = b""
        while True:
            try:
                chunk = os.read(terminal, 4096)
            except OSError:  # the other end closed
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(terminal)
    assert stdout.startswith("audit chain intact")  # the result, unchanged on stdout
    assert b"\r" in drawn and b"verify-audit" in drawn and b"rows/s" in drawn
