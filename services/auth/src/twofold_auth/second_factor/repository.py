"""Every query on ``second_factor_attempts``: the attempt limit, enforced atomically in the database.

A subject is a user id, or ``<client_id>:<account>`` for a third-party app's
user.  ``reserve`` takes a transaction-scoped advisory lock on the subject,
counts the attempts of the window that failed or are still being evaluated,
and either records a new pending attempt or refuses.  Parallel requests
serialize on the lock, so 20 concurrent guesses get at most ``attempt_limit``
evaluations.  The count is per subject, not per login: a new password login
does not buy new guesses.  Nothing here commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, cast

import sqlalchemy as sa
from sqlalchemy import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import second_factor_attempts as attempts
from ..settings import AuthSettings

# how a second factor was given (recorded on a verified login challenge)
Method = Literal["totp", "recovery_code"]


@dataclass(frozen=True)
class Reservation:
    attempt_id: int | None
    retry_after: int = 0

    @property
    def granted(self) -> bool:
        return self.attempt_id is not None


class AttemptLimiter:
    def __init__(self, settings: AuthSettings) -> None:
        self.limit = settings.attempt_limit
        self.window = timedelta(seconds=settings.attempt_window_seconds)
        self.lockout_window = timedelta(seconds=settings.lockout_window_seconds)

    async def reserve(self, session: AsyncSession, subject: str) -> Reservation:
        await session.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(subject, 0))))
        since = datetime.now(UTC) - self.window
        count, oldest = (await session.execute(
            sa.select(sa.func.count(), sa.func.min(attempts.c.attempted_at))
            .where(attempts.c.subject == subject, attempts.c.attempted_at > since,
                   attempts.c.outcome.in_(("pending", "failure")))
        )).one()
        if count >= self.limit:
            retry_after = int((oldest + self.window - datetime.now(UTC)).total_seconds()) + 1
            return Reservation(None, max(1, retry_after))
        attempt_id = await session.scalar(
            attempts.insert().values(subject=subject, outcome="pending").returning(attempts.c.id)
        )
        return Reservation(attempt_id)

    async def settle(self, session: AsyncSession, attempt_id: int, outcome: str) -> None:
        """``success`` or ``failure``; ``error`` when nothing was evaluated (the vault was away)."""
        await session.execute(attempts.update().where(attempts.c.id == attempt_id).values(outcome=outcome))

    async def recent_failures(self, session: AsyncSession, subject: str) -> int:
        since = datetime.now(UTC) - self.lockout_window
        return await session.scalar(
            sa.select(sa.func.count()).where(attempts.c.subject == subject, attempts.c.attempted_at > since,
                                             attempts.c.outcome == "failure")
        ) or 0

    async def clear_failures(self, session: AsyncSession, subject: str) -> None:
        """After an unlock: the failures that caused the lock no longer count."""
        await session.execute(attempts.delete().where(attempts.c.subject == subject, attempts.c.outcome == "failure"))


async def delete_old(session: AsyncSession, before: datetime) -> int:
    """Attempts older than ``before`` (the longest limit window is shorter); returns how many."""
    result = await session.execute(attempts.delete().where(attempts.c.attempted_at < before))
    return cast(CursorResult[Any], result).rowcount
