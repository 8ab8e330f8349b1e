"""How long a session lives: 30 minutes idle and 12 hours absolute by default (NIST SP 800-63B, AAL2).

The gateway checks an access token's ``exp`` locally, so no access token may
outlive its session, and none may last longer than the idle timeout; a
refresh is refused once the session was idle too long or has reached its
absolute end.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import jwt
import pytest

from twofold_auth.settings import AuthSettings
from twofold_common.testing.http import bearer


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


async def refresh(auth_stack, tokens: dict) -> httpx.Response:
    return await auth_stack.http.post("/api/auth/token/refresh", json={"refreshToken": tokens["refreshToken"]})


async def session_row(auth_stack, session_id: str):
    return (await auth_stack.sql("SELECT * FROM sessions WHERE id = $1", uuid.UUID(session_id)))[0]


def test_an_access_token_cannot_outlast_the_idle_timeout() -> None:
    with pytest.raises(ValueError, match="AUTH_ACCESS_TOKEN_SECONDS"):
        AuthSettings(access_token_seconds=3600, session_idle_seconds=1800)
    with pytest.raises(ValueError, match="AUTH_SESSION_IDLE_SECONDS"):
        AuthSettings(session_idle_seconds=3600, session_seconds=1800, access_token_seconds=600)


async def test_a_session_ends_twelve_hours_after_sign_in_by_default_and_no_token_outlives_it(auth_stack) -> None:
    user = await auth_stack.enroll(await auth_stack.register())
    tokens = await auth_stack.sign_in(user)
    row = await session_row(auth_stack, tokens["sessionId"])
    assert abs((row["expires_at"] - row["created_at"]) - timedelta(hours=12)) < timedelta(seconds=5)
    refresh_ends = (await auth_stack.sql("SELECT max(expires_at) AS ends FROM refresh_tokens WHERE session_id = $1",
                                         row["id"]))[0]["ends"]
    assert refresh_ends <= row["expires_at"]
    claims = claims_of(tokens["accessToken"])
    assert claims["exp"] <= row["expires_at"].timestamp()
    assert claims["exp"] - claims["iat"] <= 30 * 60 and tokens["expiresIn"] <= 30 * 60


async def test_an_idle_session_ends_and_activity_keeps_it_alive(auth_stack) -> None:
    """Time passes by ageing the session's last activity, as the clock would: no sleep, no race with it."""
    user = await auth_stack.enroll(await auth_stack.register())
    tokens = await auth_stack.sign_in(user)
    almost_idle = "UPDATE sessions SET last_activity_at = now() - interval '29 minutes' WHERE id = $1"
    idle_too_long = "UPDATE sessions SET last_activity_at = now() - interval '31 minutes' WHERE id = $1"
    session_id = uuid.UUID(tokens["sessionId"])

    # refreshes and signed-in requests are activity: each starts the 30 minutes again
    await auth_stack.sql(almost_idle, session_id)
    refreshed = await refresh(auth_stack, tokens)
    assert refreshed.status_code == 200, refreshed.text
    tokens = refreshed.json()
    await auth_stack.sql(almost_idle, session_id)
    listed = await auth_stack.http.get("/api/auth/sessions", headers=bearer(tokens["accessToken"]))
    assert listed.status_code == 200, listed.text
    await auth_stack.sql(almost_idle, session_id)
    refreshed = await refresh(auth_stack, tokens)
    assert refreshed.status_code == 200, refreshed.text
    tokens = refreshed.json()

    await auth_stack.sql(idle_too_long, session_id)
    idle = await refresh(auth_stack, tokens)
    assert idle.status_code == 401 and idle.headers["content-type"] == "application/problem+json"
    row = await session_row(auth_stack, tokens["sessionId"])
    assert row["revoked_at"] is not None and row["revoked_reason"] == "idle-timeout"
    assert "session.revoked.v1" in await auth_stack.events_about(user.user_id, {"session.revoked.v1"})

    other = await auth_stack.sign_in(user)
    listed = await auth_stack.http.get("/api/auth/sessions", headers=bearer(other["accessToken"]))
    assert [s["id"] for s in listed.json()["sessions"]] == [other["sessionId"]]


async def test_the_absolute_limit_ends_even_an_active_session(auth_stack) -> None:
    user = await auth_stack.enroll(await auth_stack.register())
    tokens = await auth_stack.sign_in(user)
    session_id = uuid.UUID(tokens["sessionId"])
    # three minutes before the end: a refresh still works, and nothing it hands out outlives the session
    await auth_stack.sql("UPDATE sessions SET expires_at = now() + interval '3 minutes' WHERE id = $1", session_id)
    ends = (await session_row(auth_stack, tokens["sessionId"]))["expires_at"].timestamp()
    answer = await refresh(auth_stack, tokens)
    assert answer.status_code == 200, answer.text
    tokens = answer.json()
    # the gateway enforces the absolute end with the token's exp alone
    assert claims_of(tokens["accessToken"])["exp"] <= ends
    assert 0 < tokens["expiresIn"] <= 180
    newest = (await auth_stack.sql("SELECT expires_at FROM refresh_tokens WHERE session_id = $1 "
                                   "ORDER BY created_at DESC LIMIT 1", session_id))[0]["expires_at"]
    assert newest.timestamp() <= ends
    # past the end, however recent the activity
    await auth_stack.sql("UPDATE sessions SET expires_at = now() - interval '1 second', last_activity_at = now() "
                         "WHERE id = $1", session_id)
    ended = await refresh(auth_stack, tokens)
    assert ended.status_code == 401 and ended.headers["content-type"] == "application/problem+json"
