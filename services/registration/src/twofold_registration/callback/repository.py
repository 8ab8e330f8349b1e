"""Every query on ``seed_pickups``.  Nothing here commits: the caller's unit of work does."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import seed_pickups


async def insert(session: AsyncSession, *, registration_id: uuid.UUID, sealed_seed: bytes,
                 expires_at: datetime) -> None:
    await session.execute(seed_pickups.insert().values(registration_id=registration_id, sealed_seed=sealed_seed,
                                                       expires_at=expires_at))


async def take(session: AsyncSession, registration_id: uuid.UUID) -> bytes | None:
    """The sealed seed of the registration, deleted in the same statement; None if gone or expired."""
    return await session.scalar(
        sa.delete(seed_pickups)
        .where(seed_pickups.c.registration_id == registration_id, seed_pickups.c.expires_at > sa.func.now())
        .returning(seed_pickups.c.sealed_seed)
    )


async def delete_expired(session: AsyncSession) -> int:
    # a DELETE's result is a CursorResult, which has the row count
    result = await session.execute(sa.delete(seed_pickups).where(seed_pickups.c.expires_at <= sa.func.now()))
    return cast(CursorResult[Any], result).rowcount
