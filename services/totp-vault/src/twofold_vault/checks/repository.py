"""Every query on ``code_attempts`` and ``subject_locks``.  Nothing here commits: the check's transaction does."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, cast

import sqlalchemy as sa
from sqlalchemy import CursorResult
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import code_attempts as attempts
from ..models import subject_locks as locks

Method = Literal["totp", "recovery_code"]


@dataclass(frozen=True)
class LimitState:
    """A subject's TOTP failures in the attempt window (and the oldest of them) and in the lockout window."""

    failures: int
    oldest_failure: datetime | None
    recent_failures: int
    locked: bool


async def lock_subject(session: AsyncSession, subject: str) -> None:
    """Serialize the checks of one subject until the transaction ends: each sees the ones before it decided."""
    await session.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtextextended("vault-check:" + subject,
                                                                                           0))))


async def limit_state(session: AsyncSession, subject: str, *, window: timedelta,
                      lockout_window: timedelta) -> LimitState:
    now = datetime.now(UTC)
    at = attempts.c.attempted_at
    row = (await session.execute(
        sa.select(sa.func.count().filter(at > now - window), sa.func.min(at).filter(at > now - window),
                  sa.func.count(),
                  sa.select(locks.c.subject).where(locks.c.subject == subject).exists())
        .where(attempts.c.subject == subject, attempts.c.method == "totp", attempts.c.outcome == "failure",
               at > now - max(window, lockout_window))
    )).one()
    return LimitState(failures=row[0], oldest_failure=row[1], recent_failures=row[2], locked=row[3])


async def record(session: AsyncSession, subject: str, method: Method, outcome: str, reason: str | None) -> None:
    await session.execute(attempts.insert().values(subject=subject, method=method, outcome=outcome, reason=reason))


async def lock(session: AsyncSession, subject: str) -> None:
    await session.execute(insert(locks).values(subject=subject).on_conflict_do_nothing())


async def unlock(session: AsyncSession, subject: str) -> bool:
    """The lock gone and the TOTP failures that caused it no longer counted; False when it was not locked."""
    unlocked = cast(CursorResult[Any], await session.execute(sa.delete(locks).where(locks.c.subject == subject)))
    await session.execute(sa.delete(attempts).where(attempts.c.subject == subject, attempts.c.method == "totp",
                                                    attempts.c.outcome == "failure"))
    return unlocked.rowcount > 0


async def delete_subject(session: AsyncSession, subject: str) -> None:
    await session.execute(sa.delete(locks).where(locks.c.subject == subject))
    await session.execute(sa.delete(attempts).where(attempts.c.subject == subject))


async def delete_old(session: AsyncSession, before: datetime) -> int:
    """Checks older than ``before`` (longer ago than any window counts); returns how many."""
    result = await session.execute(attempts.delete().where(attempts.c.attempted_at < before))
    return cast(CursorResult[Any], result).rowcount
