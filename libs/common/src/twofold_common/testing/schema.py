"""Whether a service's hand-written migrations produce exactly the tables its models declare."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from ..db import to_asyncpg_url
from ..migrations import upgrade
from ..tables import event_metadata


async def schema_differences(url: str, migrations: Path, metadata: sa.MetaData) -> list[Any]:
    """Upgrade the empty database at ``url`` with ``migrations``; what alembic's autogenerate would still
    change to reach ``metadata`` (and the event tables every service has): ``[]`` when they match."""
    await asyncio.to_thread(upgrade, migrations, url)
    engine = create_async_engine(to_asyncpg_url(url), poolclass=sa.NullPool)
    try:
        async with engine.connect() as conn:
            # alembic compares a sequence of MetaData too; its type hint names one
            return await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync, opts={"compare_type": True}),
                                              [metadata, event_metadata]))  # type: ignore[arg-type]
    finally:
        await engine.dispose()
