"""The connection pool against a real PostgreSQL."""

from __future__ import annotations

import asyncpg
import pytest
import sqlalchemy as sa

from twofold_common import db as db_module
from twofold_common.db import Database, to_libpq_url
from twofold_common.testing.infra import Infra


async def _backend_pid(db: Database) -> int:
    async with db.transaction() as session:
        return await session.scalar(sa.text("SELECT pg_backend_pid()"))


async def test_a_pooled_connection_that_died_while_idle_is_replaced_before_use(
    infra: Infra, create_database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_module, "IDLE_PING_SECONDS", 0.0)
    url = await create_database("pool")
    db = Database(url, pool_size=1)
    try:
        first = await _backend_pid(db)
        admin = await asyncpg.connect(to_libpq_url(infra.pg_admin_url))
        try:
            await admin.execute("SELECT pg_terminate_backend($1)", first)
        finally:
            await admin.close()
        assert await _backend_pid(db) not in (None, first)  # no error: the dead connection was never used
    finally:
        await db.dispose()
