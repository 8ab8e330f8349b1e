"""Every query on registration tokens.  Status changes are single UPDATEs guarded by ``status = 'pending'``."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import registrations


def new_token() -> tuple[str, bytes]:
    """``reg_`` and 256 random bits; only the hash is stored."""
    token = f"reg_{secrets.token_urlsafe(32)}"
    return token, hash_token(token)


def hash_token(token: str) -> bytes:
    # Unkeyed SHA-256 is enough: the token has 256 bits of entropy, nothing to guess offline.
    return hashlib.sha256(token.encode()).digest()


async def insert(session: AsyncSession, **values: Any) -> None:
    await session.execute(registrations.insert().values(**values))


async def by_token(session: AsyncSession, token: str) -> RowMapping | None:
    return (await session.execute(
        sa.select(registrations).where(registrations.c.token_hash == hash_token(token))
    )).mappings().first()


async def transition(
    session: AsyncSession, registration_id: uuid.UUID, status: str, **values: Any
) -> RowMapping | None:
    """pending -> ``status`` in one statement: of two concurrent callbacks, exactly one gets the row."""
    return (await session.execute(
        sa.update(registrations)
        .where(registrations.c.id == registration_id, registrations.c.status == "pending")
        .values(status=status, **values)
        .returning(registrations)
    )).mappings().first()


async def lock_pending(session: AsyncSession, registration_id: uuid.UUID) -> RowMapping | None:
    """The pending registration, locked until the transaction ends: completions of one registration
    (parallel callbacks, a retry) run one after the other, and the later ones find it completed."""
    return (await session.execute(
        sa.select(registrations).where(registrations.c.id == registration_id, registrations.c.status == "pending")
        .with_for_update()
    )).mappings().first()


async def count_confirmation(session: AsyncSession, registration_id: uuid.UUID, *, limit: int,
                             window: timedelta) -> int:
    """Count one native confirmation attempt in the registration's window, in one statement (so parallel
    attempts cannot pass the limit); returns 0 when counted, else the seconds until the window ends."""
    c = registrations.c
    now = datetime.now(UTC)
    new_window = sa.or_(c.confirm_window_started_at.is_(None), c.confirm_window_started_at <= now - window)
    counted = await session.scalar(
        sa.update(registrations)
        .where(c.id == registration_id, sa.or_(new_window, c.confirm_attempts < limit))
        .values(confirm_attempts=sa.case((new_window, 1), else_=c.confirm_attempts + 1),
                confirm_window_started_at=sa.case((new_window, now), else_=c.confirm_window_started_at))
        .returning(c.id)
    )
    if counted is not None:
        return 0
    started = (await session.execute(
        sa.select(c.confirm_window_started_at).where(c.id == registration_id))).scalar_one()
    return max(1, int((started + window - now).total_seconds()) + 1)


async def set_seed(session: AsyncSession, registration_id: uuid.UUID, seed_id: str) -> None:
    await session.execute(sa.update(registrations).where(registrations.c.id == registration_id)
                          .values(seed_id=seed_id))


async def expire_overdue(session: AsyncSession, now: datetime, limit: int = 500) -> list[RowMapping]:
    overdue = (sa.select(registrations.c.id)
               .where(registrations.c.status == "pending", registrations.c.expires_at < now)
               .limit(limit).with_for_update(skip_locked=True).scalar_subquery())
    return list((await session.execute(
        sa.update(registrations).where(registrations.c.id.in_(overdue))
        .values(status="expired", status_reason="overdue").returning(registrations)
    )).mappings())


async def cancel_pending_of_user(session: AsyncSession, user_id: uuid.UUID, reason: str,
                                 created_before: datetime | None = None) -> list[RowMapping]:
    """The user's pending registrations (those created before ``created_before``) expired for ``reason``."""
    which = [registrations.c.user_id == user_id, registrations.c.status == "pending"]
    if created_before is not None:
        which.append(registrations.c.created_at < created_before)
    return list((await session.execute(
        sa.update(registrations).where(*which).values(status="expired", status_reason=reason).returning(registrations)
    )).mappings())
