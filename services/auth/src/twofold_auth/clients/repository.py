"""Every query on ``api_clients``.  Nothing here commits: the caller's unit of work does."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import api_clients


async def insert(session: AsyncSession, *, client_id: str, name: str, secret_hash: bytes, scopes: list[str],
                 callback_urls: list[str], seed_mode: bool, redirect_key_sealed: bytes, redirect_uris: list[str],
                 first_party: bool, post_logout_redirect_uris: list[str], backchannel_logout_uri: str | None) -> None:
    await session.execute(api_clients.insert().values(
        id=client_id, name=name, secret_hash=secret_hash, scopes=scopes, callback_urls=callback_urls,
        seed_mode=seed_mode, redirect_key_sealed=redirect_key_sealed, redirect_uris=redirect_uris,
        first_party=first_party, post_logout_redirect_uris=post_logout_redirect_uris,
        backchannel_logout_uri=backchannel_logout_uri,
    ))


async def enabled(session: AsyncSession) -> Sequence[RowMapping]:
    return (await session.execute(
        sa.select(api_clients).where(api_clients.c.disabled_at.is_(None)).order_by(api_clients.c.created_at)
    )).mappings().all()


async def find_enabled(session: AsyncSession, client_id: str) -> RowMapping | None:
    return (await session.execute(
        sa.select(api_clients).where(api_clients.c.id == client_id, api_clients.c.disabled_at.is_(None))
    )).mappings().first()


async def sealed_redirect_key(session: AsyncSession, client_id: str) -> bytes | None:
    return await session.scalar(sa.select(api_clients.c.redirect_key_sealed).where(api_clients.c.id == client_id))
