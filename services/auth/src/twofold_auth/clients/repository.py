"""Every query on ``api_clients``.  Nothing here commits: the caller's unit of work does."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import api_clients


async def insert(session: AsyncSession, *, client_id: str, name: str, secret_hash: bytes, secret_verifier: bytes,
                 scopes: list[str], callback_urls: list[str], seed_mode: bool, redirect_key_sealed: bytes,
                 redirect_uris: list[str], first_party: bool, post_logout_redirect_uris: list[str],
                 backchannel_logout_uri: str | None) -> None:
    await session.execute(api_clients.insert().values(
        id=client_id, name=name, secret_hash=secret_hash, secret_verifier=secret_verifier, scopes=scopes,
        callback_urls=callback_urls, seed_mode=seed_mode, redirect_key_sealed=redirect_key_sealed,
        redirect_uris=redirect_uris, first_party=first_party, post_logout_redirect_uris=post_logout_redirect_uris,
        backchannel_logout_uri=backchannel_logout_uri,
    ))


async def every(session: AsyncSession) -> Sequence[RowMapping]:
    return (await session.execute(sa.select(api_clients).order_by(api_clients.c.created_at))).mappings().all()


async def find(session: AsyncSession, client_id: str) -> RowMapping | None:
    """The client, enabled or not."""
    return (await session.execute(sa.select(api_clients).where(api_clients.c.id == client_id))).mappings().first()


async def find_enabled(session: AsyncSession, client_id: str) -> RowMapping | None:
    return (await session.execute(
        sa.select(api_clients).where(api_clients.c.id == client_id, api_clients.c.disabled_at.is_(None))
    )).mappings().first()


async def sealed_redirect_key(session: AsyncSession, client_id: str) -> bytes | None:
    """The key that signs redirects now: the previous secret's while its overlap runs."""
    overlapping = api_clients.c.previous_secret_expires_at > sa.func.now()
    return await session.scalar(
        sa.select(sa.case((overlapping, api_clients.c.previous_redirect_key_sealed),
                          else_=api_clients.c.redirect_key_sealed))
        .where(api_clients.c.id == client_id)
    )


async def set_disabled(session: AsyncSession, client_id: str, disabled: bool) -> bool:
    """False when no such client, or it already was so."""
    changed = await session.scalar(
        sa.update(api_clients)
        .where(api_clients.c.id == client_id,
               api_clients.c.disabled_at.is_(None) if disabled else api_clients.c.disabled_at.isnot(None))
        .values(disabled_at=sa.func.now() if disabled else None).returning(api_clients.c.id)
    )
    return changed is not None


async def replace_secret(session: AsyncSession, client_id: str, *, secret_hash: bytes, secret_verifier: bytes,
                         redirect_key_sealed: bytes, previous_until: datetime | None) -> bool:
    """The new secret in place; the current one kept as the previous until ``previous_until`` (None: dropped, as
    is any earlier previous secret). False when no such client."""
    keep = previous_until is not None
    replaced = await session.scalar(
        sa.update(api_clients).where(api_clients.c.id == client_id)
        .values(secret_hash=secret_hash, secret_verifier=secret_verifier, redirect_key_sealed=redirect_key_sealed,
                previous_secret_hash=api_clients.c.secret_hash if keep else None,
                previous_secret_verifier=api_clients.c.secret_verifier if keep else None,
                previous_redirect_key_sealed=api_clients.c.redirect_key_sealed if keep else None,
                previous_secret_expires_at=previous_until, secret_rotated_at=sa.func.now())
        .returning(api_clients.c.id)
    )
    return replaced is not None


async def record_verifier(session: AsyncSession, client_id: str, verifier: bytes, *, previous: bool) -> bool:
    """The verifier of the current (or previous) secret, where none is recorded yet. False when one was."""
    column = api_clients.c.previous_secret_verifier if previous else api_clients.c.secret_verifier
    recorded = await session.scalar(
        sa.update(api_clients).where(api_clients.c.id == client_id, column.is_(None))
        .values({column: verifier}).returning(api_clients.c.id)
    )
    return recorded is not None
