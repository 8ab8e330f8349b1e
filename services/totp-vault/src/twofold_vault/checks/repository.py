"""Every query on ``code_attempts`` and ``subject_locks``.  Nothing here commits: the check's transaction does.

The check's read and write are ``Prebuilt``: run on asyncpg, without SQLAlchemy's work per statement."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, cast

import asyncpg
import sqlalchemy as sa
from sqlalchemy import CursorResult
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from twofold_common.db import Prebuilt

from ..models import code_attempts as attempts
from ..models import seeds
from ..models import subject_locks as locks
from ..seeds.repository import Seed

Method = Literal["totp", "recovery_code"]


@dataclass(frozen=True)
class LimitState:
    """A subject's TOTP failures in the attempt window (and the oldest of them) and in the lockout window."""

    failures: int
    oldest_failure: datetime | None
    recent_failures: int
    locked: bool


def lock_statement(subject: str) -> str:
    """Serialize the checks of one subject until the transaction ends: each sees the ones before it decided.  Its
    own statement, before the reads it protects: in READ COMMITTED a statement sees what was committed when it
    started, so a lock taken inside a read would not show that read the checks it waited for.

    The statement goes with BEGIN in one simple query, which takes no parameters: the subject is in it as hex
    digits (nothing else can be read from them), and PostgreSQL computes the key from it as every release has,
    so replicas of two releases side by side still take one lock per subject."""
    key = ("vault-check:" + subject).encode().hex()
    return f"SELECT pg_advisory_xact_lock(hashtextextended(convert_from(decode('{key}', 'hex'), 'UTF8'), 0))"


async def lock_subject(session: AsyncSession, subject: str) -> None:
    """``lock_statement`` in a session's transaction."""
    await session.execute(sa.text(lock_statement(subject)))


def _state_and_seeds() -> sa.Select[Any]:
    """The statement of ``state_and_seeds``, built once (its parameters bound per call): the limit state as one
    row, joined to each of the subject's active seeds (or to none)."""
    subject = sa.bindparam("subject", type_=sa.String)
    since = sa.bindparam("since", type_=sa.DateTime(timezone=True))
    seed_id = sa.bindparam("seed_id", type_=sa.Uuid)
    at = attempts.c.attempted_at
    state = (
        sa.select(sa.func.count().filter(at > since).label("failures"),
                  sa.func.min(at).filter(at > since).label("oldest_failure"),
                  sa.func.count().label("recent_failures"),
                  sa.select(locks.c.subject).where(locks.c.subject == subject).exists().label("locked"))
        .where(attempts.c.subject == subject, attempts.c.method == "totp", attempts.c.outcome == "failure",
               at > sa.bindparam("counted_since", type_=sa.DateTime(timezone=True)))
    ).subquery("state")
    active = sa.and_(seeds.c.subject == subject, seeds.c.status == "active",
                     sa.or_(seed_id.is_(None), seeds.c.id == seed_id))
    return sa.select(state, seeds).select_from(state.outerjoin(seeds, active)).order_by(seeds.c.created_at)


_STATE_AND_SEEDS = Prebuilt(_state_and_seeds())


async def state_and_seeds(driver: asyncpg.Connection, subject: str, seed_id: uuid.UUID | None, *, window: timedelta,
                          lockout_window: timedelta) -> tuple[LimitState, list[Seed]]:
    """The subject's limit state and its active seeds (only ``seed_id``, if given), oldest first, in one
    statement.  Read after ``lock_subject``, so no other check of the subject changes them before this one
    ends."""
    now = datetime.now(UTC)
    rows = await _STATE_AND_SEEDS.fetch(driver, {
        "subject": subject, "seed_id": seed_id, "since": now - window, "counted_since": now - max(window,
                                                                                                   lockout_window),
    })
    first = rows[0]
    state = LimitState(failures=first["failures"], oldest_failure=first["oldest_failure"],
                       recent_failures=first["recent_failures"], locked=first["locked"])
    return state, [Seed.from_row(row) for row in rows if row["id"] is not None]


def _decide() -> sa.Select[Any]:
    """The statement of ``decide``, built once.  Parameters are named as no column of the written tables is (one
    named as a column would be taken for a value to set)."""
    subject = sa.bindparam("of_subject", type_=sa.String)
    step = sa.bindparam("step", type_=sa.BigInteger)
    accepted = (
        sa.update(seeds)
        .where(seeds.c.id == sa.bindparam("seed", type_=sa.Uuid), seeds.c.status == "active",
               seeds.c.last_used_step.is_(None) | (seeds.c.last_used_step < step))
        .values(last_used_step=step, last_used_at=sa.func.now())
        .returning(seeds.c.id)
    ).cte("accepted")
    was_accepted = sa.exists(sa.select(accepted.c.id))
    recorded = (
        sa.insert(attempts)
        .from_select(["subject", "method", "outcome", "reason"], sa.select(
            subject, sa.bindparam("of_method", type_=sa.String),
            sa.case((was_accepted, "success"), else_=sa.bindparam("recorded_outcome", type_=sa.String)),
            sa.case((was_accepted, sa.null()), else_=sa.bindparam("recorded_reason", type_=sa.String))))
    ).cte("recorded")
    locked = (
        insert(locks)
        .from_select(["subject"], sa.select(subject).where(sa.bindparam("lock_if_failed", type_=sa.Boolean),
                                                           ~was_accepted))
        .on_conflict_do_nothing()
    ).cte("locked")
    return sa.select(was_accepted.label("accepted")).add_cte(recorded, locked)


_DECIDE = Prebuilt(_decide())


async def decide(driver: asyncpg.Connection, subject: str, method: Method, *,
                 accept: tuple[uuid.UUID, int] | None = None, outcome: str = "failure", reason: str | None = None,
                 lock_if_failed: bool = False) -> bool:
    """A check's writes in one statement: accept the step of ``accept`` (seed id, step) if it is later than the
    seed's last used one, which is the replay guard; record the check, a success if the step was accepted and
    otherwise ``outcome`` with ``reason``; and lock the subject if no step was accepted and ``lock_if_failed``.
    Returns whether the step was accepted.

    The UPDATE decides the replay guard even inside the CTE: a concurrent writer of the seed's row (one that does
    not take the subject's check lock, such as a revocation) makes it wait for that row and re-check its condition
    on the row as committed."""
    seed, step = accept if accept is not None else (None, None)
    [row] = await _DECIDE.fetch(driver, {
        "of_subject": subject, "of_method": method, "seed": seed, "step": step, "recorded_outcome": outcome,
        "recorded_reason": reason, "lock_if_failed": lock_if_failed,
    })
    return bool(row["accepted"])


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
