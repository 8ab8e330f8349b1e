"""The hand-written migrations produce exactly the tables models.py declares."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from twofold_auth.__main__ import MIGRATIONS
from twofold_auth.models import metadata
from twofold_common.db import to_asyncpg_url
from twofold_common.migrations import upgrade
from twofold_common.tables import event_metadata


async def test_migrations_match_the_models(create_database) -> None:
    url = await create_database("auth_schema")
    await asyncio.to_thread(upgrade, MIGRATIONS, url)
    engine = create_async_engine(to_asyncpg_url(url), poolclass=sa.NullPool)
    try:
        async with engine.connect() as conn:
            differences = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync, opts={"compare_type": True}),
                                              [metadata, event_metadata]))
    finally:
        await engine.dispose()
    assert differences == []
