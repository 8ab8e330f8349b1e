"""Seed 001's mode for apps that must hold the seed: one server-to-server fetch, within minutes.

Opt-in per app (``seedMode``).  The seed waits sealed with AES-GCM (associated
data: the registration id), is deleted by the fetch that returns it, and is
swept when nobody came for it.  Apps that don't opt in never see a seed.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from twofold_common.errors import NotFound, Problem

from ..deps import Registration, Starter
from ..models import seed_pickups
from ..tokens import repository


class SeedGone(Problem):
    status, code, title = 410, "seed-gone", "The seed was already fetched or its time ran out"


async def keep(session: AsyncSession, registration: Registration, registration_id: uuid.UUID, seed: str) -> None:
    nonce = os.urandom(12)
    sealed = nonce + AESGCM(registration.settings.pickup_key()).encrypt(nonce, seed.encode(), registration_id.bytes)
    expires_at = datetime.now(UTC) + timedelta(seconds=registration.settings.seed_pickup_seconds)
    await session.execute(seed_pickups.insert().values(registration_id=registration_id, sealed_seed=sealed,
                                                       expires_at=expires_at))


async def take(session: AsyncSession, registration: Registration, token: str, starter: Starter) -> tuple[str, str]:
    """The seed and the provider's seed id, once; the row is deleted in the same statement."""
    row = await repository.by_token(session, token)
    if row is None or row["client_id"] is None or row["client_id"] != starter.client_id:
        raise NotFound("Registration token not found.", code="registration-not-found")
    sealed = await session.scalar(
        sa.delete(seed_pickups)
        .where(seed_pickups.c.registration_id == row["id"], seed_pickups.c.expires_at > sa.func.now())
        .returning(seed_pickups.c.sealed_seed)
    )
    if sealed is None:
        raise SeedGone("The seed can be fetched once, within minutes of the setup.")
    seed = AESGCM(registration.settings.pickup_key()).decrypt(sealed[:12], sealed[12:], row["id"].bytes).decode()
    return seed, row["external_seed_id"]


async def delete_expired(session: AsyncSession) -> int:
    # a DELETE's result is a CursorResult, which has the row count
    result = await session.execute(sa.delete(seed_pickups).where(seed_pickups.c.expires_at <= sa.func.now()))
    return cast(CursorResult[Any], result).rowcount
