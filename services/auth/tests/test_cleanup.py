"""Housekeeping: what ended more than a day ago goes, what may still count stays."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from twofold_auth.cleanup import delete_expired
from twofold_common.db import Database
from twofold_common.jobs import run_once
from twofold_common.testing.waiting import eventually


async def test_the_cleanup_deletes_what_ended_over_a_day_ago_and_keeps_the_rest(auth_stack) -> None:
    user = await auth_stack.register()
    now = datetime.now(UTC)
    long_ago, recently = now - timedelta(days=2), now - timedelta(hours=2)
    sessions = {"ended": uuid.uuid4(), "revoked": uuid.uuid4(), "live": uuid.uuid4()}
    for name, ends, revoked in [("ended", long_ago, None), ("revoked", now + timedelta(hours=1), long_ago),
                                ("live", now + timedelta(hours=1), None)]:
        await auth_stack.sql("INSERT INTO sessions (id, user_id, amr, expires_at, revoked_at) "
                             "VALUES ($1, $2, '{pwd,otp}', $3, $4)", sessions[name], user.user_id, ends, revoked)
    for expires in (long_ago, recently):  # an old one and a new one of each
        await auth_stack.sql("INSERT INTO refresh_tokens (id, token_hash, session_id, expires_at) "
                             "VALUES ($1, $2, $3, $4)", uuid.uuid4(), uuid.uuid4().bytes + bytes(16),
                             sessions["live"], expires)
        await auth_stack.sql("INSERT INTO login_challenges (id, token_hash, user_id, expires_at) "
                             "VALUES ($1, $2, $3, $4)", uuid.uuid4(), uuid.uuid4().bytes + bytes(16), user.user_id,
                             expires)
    # a right password marks its source as the owner's for 90 days; a wrong one counts only in its window
    for outcome in ("success", "failure"):
        await auth_stack.sql("INSERT INTO password_attempts (account, source, attempted_at, outcome) "
                             "VALUES ($1, '203.0.113.5', $2, $3)", f"cleanup-{user.user_id}", long_ago, outcome)

    # The service runs the same job every 2 s and may take it first (run_once then answers None); one run deletes
    # everything in one transaction, so once the ended sessions are gone, the rest of that run is done too.
    db = Database(auth_stack.auth.env["AUTH_DATABASE_URL"], pool_size=1)

    async def cleaned() -> bool:
        await run_once(db, "auth-cleanup", delete_expired)
        left = await auth_stack.sql("SELECT id FROM sessions WHERE id = ANY($1::uuid[])", list(sessions.values()))
        return {row["id"] for row in left} == {sessions["live"]}

    try:
        await eventually(cleaned, timeout=30)
    finally:
        await db.dispose()
    assert [r["n"] for r in await auth_stack.sql(
        "SELECT count(*) AS n FROM refresh_tokens WHERE session_id = $1", sessions["live"])] == [1]
    assert [r["n"] for r in await auth_stack.sql(
        "SELECT count(*) AS n FROM login_challenges WHERE user_id = $1", user.user_id)] == [1]
    assert [r["outcome"] for r in await auth_stack.sql(
        "SELECT outcome FROM password_attempts WHERE account = $1", f"cleanup-{user.user_id}")] == ["success"]
