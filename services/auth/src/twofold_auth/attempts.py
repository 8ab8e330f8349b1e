"""Attempt limits, enforced atomically in the database: second factors per subject, passwords per account and source.

For second factors, a subject is a user id, or ``<client_id>:<account>`` for a third-party app's
user.  ``reserve`` takes a transaction-scoped advisory lock on the subject,
counts the attempts of the window that failed or are still being evaluated,
and either records a new pending attempt or refuses.  Parallel requests
serialize on the lock, so 20 concurrent guesses get at most ``attempt_limit``
evaluations.  The count is per subject, not per login: a new password login
does not buy new guesses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from .models import password_attempts
from .models import second_factor_attempts as attempts
from .settings import AuthSettings

# How long a source that gave an account's right password stays one the owner uses.
KNOWN_SOURCE_TIME = timedelta(days=90)


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


class PasswordLimiter:
    """Password checks limited per account and source, per source, and per account, the same race-safe way.

    ``reserve`` takes transaction-scoped advisory locks on the account, then on
    the source (always in that order, so no two requests wait on each other in
    a cycle), counts the checks that failed or are still running, and records a
    pending one or refuses.  The limits:

    - per account and source: ``password_attempt_limit`` per window, counted since
      that source's last right password;
    - per source across accounts (credential stuffing): ``password_source_limit``;
    - per account across sources: ``password_account_limit`` per account window.

    The last two apply only to a source that never gave the account's right
    password (in ``KNOWN_SOURCE_TIME``), so guesses from elsewhere cannot lock the
    owner out of the address they use.  ``account`` is the email's lookup key
    whether or not an account has it: unknown emails are limited exactly alike.
    """

    def __init__(self, settings: AuthSettings) -> None:
        self.pair_limit = settings.password_attempt_limit
        self.source_limit = settings.password_source_limit
        self.account_limit = settings.password_account_limit
        self.window = timedelta(seconds=settings.password_attempt_window_seconds)
        self.account_window = timedelta(seconds=settings.password_account_window_seconds)

    async def reserve(self, session: AsyncSession, account: str, source: str) -> Reservation:
        for key in (f"password-account:{account}", f"password-source:{source}"):
            await session.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(key, 0))))
        now = datetime.now(UTC)
        at = password_attempts.c.attempted_at
        same_account, same_source = password_attempts.c.account == account, password_attempts.c.source == source
        last_success = await session.scalar(
            sa.select(sa.func.max(at)).where(same_account, same_source, password_attempts.c.outcome == "success",
                                             at > now - KNOWN_SOURCE_TIME)
        )
        pair_since = max(now - self.window, last_success) if last_success else now - self.window
        counts = (await session.execute(
            sa.select(
                sa.func.count().filter(same_account, same_source, at > pair_since),
                sa.func.min(at).filter(same_account, same_source, at > pair_since),
                sa.func.count().filter(same_source, at > now - self.window),
                sa.func.min(at).filter(same_source, at > now - self.window),
                sa.func.count().filter(same_account, at > now - self.account_window),
                sa.func.min(at).filter(same_account, at > now - self.account_window),
            ).where(sa.or_(same_account, same_source), password_attempts.c.outcome.in_(("pending", "failure")),
                    at > now - max(self.window, self.account_window))
        )).one()
        limits = [(self.pair_limit, self.window)]
        if last_success is None:
            limits += [(self.source_limit, self.window), (self.account_limit, self.account_window)]
        # Without a recent success only the pair's limit applies: zip stops after it, by design.
        waits = [oldest + window - now
                 for (limit, window), count, oldest in zip(limits, counts[::2], counts[1::2], strict=False)
                 if count >= limit]
        if waits:
            return Reservation(None, max(1, int(max(waits).total_seconds()) + 1))
        attempt_id = await session.scalar(
            password_attempts.insert().values(account=account, source=source, outcome="pending")
            .returning(password_attempts.c.id)
        )
        return Reservation(attempt_id)

    async def settle(self, session: AsyncSession, attempt_id: int, outcome: str) -> None:
        """``success`` or ``failure``."""
        await session.execute(password_attempts.update().where(password_attempts.c.id == attempt_id)
                              .values(outcome=outcome))
