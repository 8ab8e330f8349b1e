"""Every query of the password step and the login challenge: ``login_challenges`` and ``password_attempts``.

Nothing here commits: the caller's unit of work does.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import login_challenges, password_attempts
from ..second_factor.service import Method
from ..settings import AuthSettings

# How long a source that gave an account's right password stays one the owner uses.
KNOWN_SOURCE_TIME = timedelta(days=90)


async def delete_old(session: AsyncSession, before: datetime) -> int:
    """Challenges that expired before ``before``, and password attempts older than it (a right password
    stays as long as it marks its source as one the owner uses); returns how many rows."""
    challenges = await session.execute(sa.delete(login_challenges).where(login_challenges.c.expires_at < before))
    attempts = await session.execute(sa.delete(password_attempts).where(password_attempts.c.attempted_at < sa.case(
        (password_attempts.c.outcome == "success", datetime.now(UTC) - KNOWN_SOURCE_TIME), else_=before)))
    return cast(CursorResult[Any], challenges).rowcount + cast(CursorResult[Any], attempts).rowcount


@dataclass(frozen=True)
class Challenge:
    id: uuid.UUID
    user_id: uuid.UUID


async def insert_challenge(session: AsyncSession, *, token_hash: bytes, user_id: uuid.UUID, expires_at: datetime,
                           ip: str | None, user_agent: str | None) -> None:
    await session.execute(login_challenges.insert().values(
        id=uuid.uuid4(), token_hash=token_hash, user_id=user_id, expires_at=expires_at, ip=ip, user_agent=user_agent,
    ))


async def try_challenge(session: AsyncSession, token_hash: bytes, *, max_attempts: int) -> Challenge | None:
    """The open challenge of this token with one more code counted against it; None if it is unknown,
    used, verified, expired or out of tries."""
    row = (await session.execute(
        sa.update(login_challenges)
        .where(login_challenges.c.token_hash == token_hash,
               login_challenges.c.consumed_at.is_(None), login_challenges.c.verified_at.is_(None),
               login_challenges.c.expires_at > sa.func.now(), login_challenges.c.attempts < max_attempts)
        .values(attempts=login_challenges.c.attempts + 1)
        .returning(login_challenges.c.id, login_challenges.c.user_id)
    )).first()
    return Challenge(row.id, row.user_id) if row else None


async def consume_open(session: AsyncSession, challenge_id: uuid.UUID) -> bool:
    """The challenge answered and used up; False if it was used, verified or expired meanwhile."""
    consumed = await session.scalar(
        sa.update(login_challenges)
        .where(login_challenges.c.id == challenge_id, login_challenges.c.consumed_at.is_(None),
               login_challenges.c.verified_at.is_(None), login_challenges.c.expires_at > sa.func.now())
        .values(consumed_at=sa.func.now()).returning(login_challenges.c.id)
    )
    return consumed is not None


async def mark_verified(session: AsyncSession, challenge_id: uuid.UUID, *, at: datetime, method: str) -> bool:
    """The challenge verified; False if it was used, verified or expired meanwhile."""
    verified = await session.scalar(
        sa.update(login_challenges)
        .where(login_challenges.c.id == challenge_id, login_challenges.c.consumed_at.is_(None),
               login_challenges.c.verified_at.is_(None), login_challenges.c.expires_at > sa.func.now())
        .values(verified_at=at, verified_method=method).returning(login_challenges.c.id)
    )
    return verified is not None


async def consume_verified(session: AsyncSession, token_hash: bytes, user_id: uuid.UUID) -> Method | None:
    """The method that verified this user's challenge, which is then used up; None if there is no such challenge."""
    return await session.scalar(
        sa.update(login_challenges)
        .where(login_challenges.c.token_hash == token_hash, login_challenges.c.user_id == user_id,
               login_challenges.c.consumed_at.is_(None), login_challenges.c.verified_at.isnot(None),
               login_challenges.c.expires_at > sa.func.now())
        .values(consumed_at=sa.func.now()).returning(login_challenges.c.verified_method)
    )


@dataclass(frozen=True)
class Reservation:
    attempt_id: int | None
    retry_after: int = 0

    @property
    def granted(self) -> bool:
        return self.attempt_id is not None


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
        # one round trip after the locks: the source's last right password for the account, and what counts
        latest_success = sa.select(sa.func.max(at)).where(
            same_account, same_source, password_attempts.c.outcome == "success", at > now - KNOWN_SOURCE_TIME
        ).scalar_subquery()
        # GREATEST skips a NULL: without a recent success the pair counts over the window
        pair = sa.and_(same_account, same_source, at > sa.func.greatest(now - self.window, latest_success))
        last_success, *counts = (await session.execute(
            sa.select(
                latest_success,
                sa.func.count().filter(pair),
                sa.func.min(at).filter(pair),
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
