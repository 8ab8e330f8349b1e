"""Every query on ``audit_log``.  Nothing here commits: the caller's unit of work does."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import audit_log

AUDIT_LOCK_ID = 7_424_101


_FIELDS = ("user_id", "action", "outcome", "reason", "ip", "user_agent", "details", "created_at")
# One row, built once, with its parameters under names no other table's column has: a statement that writes
# something else can insert the row too (as a CTE), in the same round trip (the login's password step does).
ROW = audit_log.insert().values({field: sa.bindparam(f"audit_{field}") for field in _FIELDS})


def row_parameters(**values: Any) -> dict[str, Any]:
    """``ROW``'s parameters for a row of ``values`` (every field but ``created_at``, which is now)."""
    return {f"audit_{field}": value for field, value in {**values, "created_at": datetime.now(UTC)}.items()}


async def insert_row(session: AsyncSession, parameters: dict[str, Any]) -> None:
    """One row, of ``row_parameters``."""
    await session.execute(ROW, parameters)


async def entries(session: AsyncSession, *, user_id: uuid.UUID | None, limit: int,
                  before: int | None) -> Sequence[RowMapping]:
    query = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if user_id is not None:
        query = query.where(audit_log.c.user_id == user_id)
    if before is not None:
        query = query.where(audit_log.c.id < before)
    return (await session.execute(query)).mappings().all()


async def lock_chain(session: AsyncSession) -> None:
    await session.execute(sa.select(sa.func.pg_advisory_xact_lock(AUDIT_LOCK_ID)))


async def last_sealed(session: AsyncSession) -> tuple[int, bytes] | None:
    last = (await session.execute(
        sa.select(audit_log.c.seq, audit_log.c.hash).where(audit_log.c.seq.isnot(None))
        .order_by(audit_log.c.seq.desc()).limit(1)
    )).first()
    return (last.seq, last.hash) if last else None


async def unsealed_rows(session: AsyncSession, batch: int) -> Sequence[RowMapping]:
    return (await session.execute(
        sa.select(audit_log).where(audit_log.c.seq.is_(None)).order_by(audit_log.c.id).limit(batch)
    )).mappings().all()


async def set_seals(session: AsyncSession, seals: list[dict[str, Any]]) -> None:
    """``seals``: ``row_id``, ``new_seq``, ``new_prev_hash``, ``new_hash`` per row."""
    await session.execute(
        sa.update(audit_log).where(audit_log.c.id == sa.bindparam("row_id"))
        .values(seq=sa.bindparam("new_seq"), prev_hash=sa.bindparam("new_prev_hash"), hash=sa.bindparam("new_hash")),
        seals,
    )


async def count_unsealed(session: AsyncSession) -> int:
    return await session.scalar(sa.select(sa.func.count()).where(audit_log.c.seq.is_(None))) or 0


async def count_sealed(session: AsyncSession) -> int:
    return await session.scalar(sa.select(sa.func.count()).where(audit_log.c.seq.isnot(None))) or 0


async def sealed_in_order(session: AsyncSession) -> AsyncIterator[RowMapping]:
    result = await session.stream(sa.select(audit_log).where(audit_log.c.seq.isnot(None)).order_by(audit_log.c.seq))
    async for entry in result.mappings():
        yield entry
