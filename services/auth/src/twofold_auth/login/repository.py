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

from ..accounts.repository import ACCOUNT_COLUMNS, Account, account_of
from ..audit import repository as audit
from ..models import login_challenges, password_attempts, users
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
    email: str  # the user's, for the session the challenge may lead to


# statements built once, with parameters under names no column has (one named as a column would be taken for a
# value to set)
_OPEN = (login_challenges.c.consumed_at.is_(None), login_challenges.c.verified_at.is_(None),
         login_challenges.c.expires_at > sa.func.now())
_TRY = (
    sa.update(login_challenges)
    .where(login_challenges.c.token_hash == sa.bindparam("presented_hash"), *_OPEN,
           login_challenges.c.attempts < sa.bindparam("max_attempts"), users.c.id == login_challenges.c.user_id)
    .values(attempts=login_challenges.c.attempts + 1)
    .returning(login_challenges.c.id, login_challenges.c.user_id, users.c.email)
)
_CONSUME = (sa.update(login_challenges).where(login_challenges.c.id == sa.bindparam("challenge_id"), *_OPEN)
            .values(consumed_at=sa.func.now()).returning(login_challenges.c.id))


async def try_challenge(session: AsyncSession, token_hash: bytes, *, max_attempts: int) -> Challenge | None:
    """The open challenge of this token with one more code counted against it, and its user's email; None if it is
    unknown, used, verified, expired or out of tries."""
    row = (await session.execute(_TRY, {"presented_hash": token_hash, "max_attempts": max_attempts})).first()
    return Challenge(row.id, row.user_id, row.email) if row else None


async def consume_open(session: AsyncSession, challenge_id: uuid.UUID) -> bool:
    """The challenge answered and used up; False if it was used, verified or expired meanwhile."""
    return await session.scalar(_CONSUME, {"challenge_id": challenge_id}) is not None


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
    account: Account | None = None  # the email's account, found in the same round trip

    @property
    def granted(self) -> bool:
        return self.attempt_id is not None


def _bound_time(name: str) -> sa.BindParameter[datetime]:
    return sa.bindparam(name, type_=sa.DateTime(timezone=True))


# Both locks in one statement: the account's, then the source's, in the order of the select list, the same in
# every request, so no two requests wait on each other in a cycle.
_LOCKS = sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(sa.bindparam("account_lock"), 0)),
                   sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(sa.bindparam("source_lock"), 0)))


def _reservation() -> sa.Select[Any]:
    """The statement of ``PasswordLimiter.reserve`` after the locks, built once: the source's last right password
    for the account, the counts and oldest times of the three limits, the pending attempt inserted only when under
    every limit, and the email's account."""
    at, account, source = (password_attempts.c.attempted_at, sa.bindparam("account", type_=sa.String),
                           sa.bindparam("source", type_=sa.String))
    window_since, account_since = _bound_time("window_since"), _bound_time("account_window_since")
    same_account, same_source = password_attempts.c.account == account, password_attempts.c.source == source
    latest_success = sa.select(sa.func.max(at)).where(
        same_account, same_source, password_attempts.c.outcome == "success", at > _bound_time("known_since")
    ).scalar_subquery()
    # GREATEST skips a NULL: without a recent success the pair counts over the window
    pair = sa.and_(same_account, same_source, at > sa.func.greatest(window_since, latest_success))
    counts = sa.select(
        latest_success.label("last_success"),
        sa.func.count().filter(pair).label("pair_count"), sa.func.min(at).filter(pair).label("pair_oldest"),
        sa.func.count().filter(same_source, at > window_since).label("source_count"),
        sa.func.min(at).filter(same_source, at > window_since).label("source_oldest"),
        sa.func.count().filter(same_account, at > account_since).label("account_count"),
        sa.func.min(at).filter(same_account, at > account_since).label("account_oldest"),
    ).where(sa.or_(same_account, same_source), password_attempts.c.outcome.in_(("pending", "failure")),
            at > sa.func.least(window_since, account_since)).cte("counts")
    # the pair's limit always; the source's and the account's only for a source without a recent right password
    under_limits = sa.and_(counts.c.pair_count < sa.bindparam("pair_limit"), sa.or_(
        counts.c.last_success.is_not(None),
        sa.and_(counts.c.source_count < sa.bindparam("source_limit"),
                counts.c.account_count < sa.bindparam("account_limit"))))
    reserved = (
        password_attempts.insert()
        .from_select(["account", "source", "outcome"], sa.select(account, source, sa.literal("pending"))
                     .select_from(counts).where(under_limits))
        .returning(password_attempts.c.id)
    ).cte("reserved")
    return (sa.select(counts, sa.select(reserved.c.id).scalar_subquery().label("attempt_id"), *ACCOUNT_COLUMNS)
            .select_from(counts.outerjoin(users, users.c.email_normalized == account)))


_RESERVATION = _reservation()


class PasswordLimiter:
    """Password checks limited per account and source, per source, and per account, the same race-safe way.

    ``reserve`` takes transaction-scoped advisory locks on the account, then on
    the source (always in that order, so no two requests wait on each other in
    a cycle), then in one more statement counts the checks that failed or are
    still running and records a pending one, or refuses.  The locks are a
    statement of their own: in READ COMMITTED a statement sees what was committed
    when it started, so the counts must start after the locks are held, to see
    the attempt of a request that held them before.  The limits:

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
        """The attempt reserved or refused, with the account of the email (``account``, its lookup key)."""
        await session.execute(_LOCKS, {"account_lock": f"password-account:{account}",
                                       "source_lock": f"password-source:{source}"})
        now = datetime.now(UTC)
        row = (await session.execute(_RESERVATION, {
            "account": account, "source": source, "known_since": now - KNOWN_SOURCE_TIME,
            "window_since": now - self.window, "account_window_since": now - self.account_window,
            "pair_limit": self.pair_limit, "source_limit": self.source_limit, "account_limit": self.account_limit,
        })).one()
        found = account_of(row)
        if row.attempt_id is not None:
            return Reservation(row.attempt_id, account=found)
        limits = [(self.pair_limit, self.window, row.pair_count, row.pair_oldest)]
        if row.last_success is None:
            limits += [(self.source_limit, self.window, row.source_count, row.source_oldest),
                       (self.account_limit, self.account_window, row.account_count, row.account_oldest)]
        waits = [oldest + window - now for limit, window, count, oldest in limits if count >= limit]
        return Reservation(None, max(1, int(max(waits).total_seconds()) + 1), account=found)


_SETTLE = (password_attempts.update().where(password_attempts.c.id == sa.bindparam("attempt_id"))
           .values(outcome=sa.bindparam("attempt_outcome")))


async def settle(session: AsyncSession, attempt_id: int, outcome: str) -> None:
    """A reserved password attempt's outcome: ``success`` or ``failure``."""
    await session.execute(_SETTLE, {"attempt_id": attempt_id, "attempt_outcome": outcome})


def _settle_with_challenge() -> sa.Insert:
    """The statement of ``settle_with_challenge``, built once: the attempt settled and the audit row inserted in
    CTEs of the challenge's insert."""
    settled = (password_attempts.update().where(password_attempts.c.id == sa.bindparam("attempt_id"))
               .values(outcome="success").returning(password_attempts.c.id).cte("settled"))
    # parameters under names no column has (one named as a column would be taken for a value to set)
    return login_challenges.insert().values(
        id=sa.bindparam("challenge_id"), token_hash=sa.bindparam("challenge_hash"),
        user_id=sa.bindparam("challenge_user_id"), expires_at=sa.bindparam("challenge_expires_at"),
        ip=sa.bindparam("challenge_ip"), user_agent=sa.bindparam("challenge_user_agent"),
    ).add_cte(settled, audit.ROW.cte("audited"))


_SETTLE_WITH_CHALLENGE = _settle_with_challenge()


async def settle_with_challenge(session: AsyncSession, attempt_id: int, *, token_hash: bytes, user_id: uuid.UUID,
                                expires_at: datetime, ip: str | None, user_agent: str | None,
                                audit_row: dict[str, Any]) -> None:
    """A right password's attempt settled, the login's challenge created and its audit row (``audit.row``)
    inserted, in one round trip."""
    await session.execute(_SETTLE_WITH_CHALLENGE, {
        "attempt_id": attempt_id, "challenge_id": uuid.uuid4(), "challenge_hash": token_hash,
        "challenge_user_id": user_id, "challenge_expires_at": expires_at, "challenge_ip": ip,
        "challenge_user_agent": user_agent, **audit_row,
    })
