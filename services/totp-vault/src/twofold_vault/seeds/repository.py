"""Every query on the ``seeds`` table.  Nothing here commits: the request's (or event's) unit of work does."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import asyncpg
from sqlalchemy import Row, Select, and_, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ..crypto import Sealed
from ..models import seeds
from ..totp import TotpParameters

SeedStatus = Literal["pending", "active", "revoked"]


@dataclass(frozen=True)
class Seed:
    id: uuid.UUID
    subject: str
    registration_id: uuid.UUID
    provider: str
    external_seed_id: str | None
    status: SeedStatus
    label: str | None
    params: TotpParameters
    window_steps: int
    sealed: Sealed | None  # None once revoked
    last_used_step: int | None
    last_used_at: datetime | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: Row[Any] | asyncpg.Record) -> Seed:
        """From SQLAlchemy's row or asyncpg's record (a ``Prebuilt`` statement's)."""
        row = row._mapping if isinstance(row, Row) else row
        return cls(
            id=row["id"], subject=row["subject"], registration_id=row["registration_id"], provider=row["provider"],
            external_seed_id=row["external_seed_id"], status=row["status"], label=row["label"],
            params=TotpParameters(digits=row["digits"], algorithm=row["algorithm"], period=row["period"]),
            window_steps=row["window_steps"],
            sealed=Sealed(row["key_id"], row["nonce"], row["ciphertext"]) if row["ciphertext"] is not None else None,
            last_used_step=row["last_used_step"], last_used_at=row["last_used_at"], created_at=row["created_at"],
        )


async def _one(session: AsyncSession, statement: Any) -> Seed | None:
    row = (await session.execute(statement)).first()
    return Seed.from_row(row) if row is not None else None


async def _all(session: AsyncSession, statement: Any) -> list[Seed]:
    return [Seed.from_row(row) for row in await session.execute(statement)]


def _sealed_values(sealed: Sealed) -> dict[str, Any]:
    return {"key_id": sealed.key_id, "nonce": sealed.nonce, "ciphertext": sealed.ciphertext}


async def get(session: AsyncSession, seed_id: uuid.UUID) -> Seed | None:
    return await _one(session, select(seeds).where(seeds.c.id == seed_id))


async def by_registration(session: AsyncSession, registration_id: uuid.UUID) -> Seed | None:
    return await _one(session, select(seeds).where(seeds.c.registration_id == registration_id))


async def for_subject(session: AsyncSession, subject: str) -> list[Seed]:
    return await _all(session, select(seeds).where(seeds.c.subject == subject).order_by(seeds.c.created_at))


async def active_for_subject(session: AsyncSession, subject: str, seed_id: uuid.UUID | None = None) -> list[Seed]:
    query: Select[Any] = select(seeds).where(seeds.c.subject == subject, seeds.c.status == "active")
    if seed_id is not None:
        query = query.where(seeds.c.id == seed_id)
    return await _all(session, query.order_by(seeds.c.created_at))


async def insert_seed(
    session: AsyncSession,
    *,
    seed_id: uuid.UUID,
    subject: str,
    registration_id: uuid.UUID,
    provider: str,
    external_seed_id: str | None,
    status: str,
    label: str | None,
    params: TotpParameters,
    window_steps: int,
    sealed: Sealed,
    last_used_step: int | None,
) -> Seed | None:
    """The new seed, or None when a seed for this registration exists (a concurrent retry won)."""
    now = func.now()
    statement = (
        insert(seeds)
        .values(
            id=seed_id, subject=subject, registration_id=registration_id, provider=provider,
            external_seed_id=external_seed_id, status=status, label=label, digits=params.digits,
            algorithm=params.algorithm, period=params.period, window_steps=window_steps,
            last_used_step=last_used_step,
            last_used_at=now if last_used_step is not None else None,
            activated_at=now if status == "active" else None,
            **_sealed_values(sealed),
        )
        .on_conflict_do_nothing(index_elements=[seeds.c.registration_id])
        .returning(seeds)
    )
    return await _one(session, statement)


async def activate(session: AsyncSession, seed_id: uuid.UUID, step: int) -> Seed | None:
    """A pending seed becomes active with its confirmation code's step used; None if it was not pending."""
    return await _one(
        session,
        update(seeds)
        .where(seeds.c.id == seed_id, seeds.c.status == "pending")
        .values(status="active", activated_at=func.now(), last_used_step=step, last_used_at=func.now())
        .returning(seeds),
    )


async def rename(session: AsyncSession, seed_id: uuid.UUID, label: str) -> Seed | None:
    return await _one(session, update(seeds).where(seeds.c.id == seed_id).values(label=label).returning(seeds))


async def lock_active_ids(session: AsyncSession, subject: str) -> list[uuid.UUID]:
    """Lock the subject's active seeds, so two revocations cannot both see "another one remains"."""
    result = await session.execute(
        select(seeds.c.id).where(seeds.c.subject == subject, seeds.c.status == "active").with_for_update()
    )
    return list(result.scalars())


async def revoke(session: AsyncSession, seed_ids: Sequence[uuid.UUID], reason: str) -> list[Seed]:
    return await _revoke(session, seeds.c.id.in_(seed_ids), reason)


async def revoke_subject(session: AsyncSession, subject: str, reason: str,
                         created_before: datetime | None = None) -> list[Seed]:
    """Every seed of the subject, or those made before ``created_before``."""
    which = and_(seeds.c.subject == subject, seeds.c.created_at < created_before) if created_before is not None \
        else seeds.c.subject == subject
    return await _revoke(session, which, reason)


async def _revoke(session: AsyncSession, which: Any, reason: str) -> list[Seed]:
    """Mark revoked and drop the ciphertext: a revoked seed can never be read again."""
    return await _all(
        session,
        update(seeds)
        .where(which, seeds.c.status != "revoked")
        .values(status="revoked", revoked_at=func.now(), revoke_reason=reason, key_id=None, nonce=None,
                ciphertext=None)
        .returning(seeds),
    )


async def lock_subject(session: AsyncSession, subject: str) -> None:
    """Serialize enrollments of one subject until the transaction ends: the rule of an enrollment
    ("first": none active yet; "replace": revoke the others) is checked and applied under it."""
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended("vault-subject:" + subject, 0))))


async def delete_seed(session: AsyncSession, seed_id: uuid.UUID) -> None:
    await session.execute(delete(seeds).where(seeds.c.id == seed_id))


async def delete_subject(session: AsyncSession, subject: str) -> list[Seed]:
    return await _all(session, delete(seeds).where(seeds.c.subject == subject).returning(seeds))


async def lock_batch_to_reseal(session: AsyncSession, active_key_id: str, after: uuid.UUID | None,
                               limit: int) -> list[Seed]:
    """The next rows sealed under another key, in id order; rows a live request holds are skipped."""
    query = select(seeds).where(seeds.c.key_id != active_key_id)
    if after is not None:
        query = query.where(seeds.c.id > after)
    return await _all(session, query.order_by(seeds.c.id).limit(limit).with_for_update(skip_locked=True))


async def reseal(session: AsyncSession, seed_id: uuid.UUID, sealed: Sealed) -> None:
    await session.execute(update(seeds).where(seeds.c.id == seed_id).values(**_sealed_values(sealed)))


async def count_sealed_under_other_keys(session: AsyncSession, active_key_id: str) -> int:
    return await session.scalar(select(func.count()).select_from(seeds).where(seeds.c.key_id != active_key_id)) or 0
