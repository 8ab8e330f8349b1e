"""Housekeeping, run periodically by one replica at a time (``Runtime.every``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from .login.repository import KNOWN_SOURCE_TIME
from .models import login_challenges, password_attempts, refresh_tokens, second_factor_attempts, sessions

# Ended rows stay a day for support questions; attempts as long as the longest limit window needs them.
GRACE = timedelta(days=1)


async def delete_expired(session: AsyncSession) -> int:
    cutoff = datetime.now(UTC) - GRACE
    deleted = 0
    for statement in (
        sa.delete(sessions).where(sa.or_(sessions.c.expires_at < cutoff, sessions.c.revoked_at < cutoff)),
        sa.delete(refresh_tokens).where(refresh_tokens.c.expires_at < cutoff),
        sa.delete(login_challenges).where(login_challenges.c.expires_at < cutoff),
        sa.delete(second_factor_attempts).where(second_factor_attempts.c.attempted_at < cutoff),
        # a right password marks its source as one the owner uses (attempts.PasswordLimiter) for longer
        sa.delete(password_attempts).where(password_attempts.c.attempted_at < sa.case(
            (password_attempts.c.outcome == "success", datetime.now(UTC) - KNOWN_SOURCE_TIME), else_=cutoff)),
    ):
        # a DELETE's result is a CursorResult, which has the row count
        deleted += cast(CursorResult[Any], await session.execute(statement)).rowcount
    return deleted
