"""Every query on ``recovery_codes``.  Only HMACs of codes are stored, never a code."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import recovery_codes


async def replace_set(session: AsyncSession, subject: str, code_hashes: Sequence[bytes]) -> None:
    await delete_subject(session, subject)
    await session.execute(recovery_codes.insert(), [{"subject": subject, "code_hash": h} for h in code_hashes])


async def consume(session: AsyncSession, subject: str, code_hash: bytes) -> bool:
    """Mark the code used if it is unused.  One UPDATE decides: of two concurrent
    requests with one code, the second re-checks ``used_at`` after the first commits."""
    result = await session.execute(
        update(recovery_codes)
        .where(recovery_codes.c.subject == subject, recovery_codes.c.code_hash == code_hash,
               recovery_codes.c.used_at.is_(None))
        .values(used_at=func.now())
        .returning(recovery_codes.c.id)
    )
    return result.first() is not None


async def count_unused(session: AsyncSession, subject: str) -> int:
    return await session.scalar(
        select(func.count()).select_from(recovery_codes)
        .where(recovery_codes.c.subject == subject, recovery_codes.c.used_at.is_(None))
    ) or 0


async def delete_subject(session: AsyncSession, subject: str, created_before: datetime | None = None) -> None:
    """Every code of the subject, or those made before ``created_before``."""
    which = [recovery_codes.c.subject == subject]
    if created_before is not None:
        which.append(recovery_codes.c.created_at < created_before)
    await session.execute(delete(recovery_codes).where(*which))
