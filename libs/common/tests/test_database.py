"""The connection pool against a real PostgreSQL."""

from __future__ import annotations

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from twofold_common import db as db_module
from twofold_common.db import Database, Prebuilt, driver_of, sqlstate, to_libpq_url
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


NOTES = sa.table("notes", sa.column("body", sa.String), sa.column("kind", sa.String))
ADD_NOTE = Prebuilt(sa.insert(NOTES).values(body=sa.bindparam("text", type_=sa.String), kind="plain")
                    .returning(NOTES.c.body, NOTES.c.kind))


async def _notes(db: Database) -> list[str]:
    async with db.transaction() as session:
        return list(await session.scalars(sa.text("SELECT body FROM notes ORDER BY body")))


async def test_a_driver_transaction_commits_its_prebuilt_statements_or_rolls_them_back(create_database) -> None:
    db = Database(await create_database("driver"), pool_size=1)
    try:
        async with db.transaction() as session:
            await session.execute(sa.text("CREATE TABLE notes (body text NOT NULL, kind text NOT NULL)"))
        async with db.driver_transaction("SELECT pg_advisory_xact_lock(42)") as driver:
            [row] = await ADD_NOTE.fetch(driver, {"text": "kept"})
            assert (row["body"], row["kind"]) == ("kept", "plain")  # the statement's own literal is bound too
        with pytest.raises(RuntimeError):
            async with db.driver_transaction("SELECT 1") as driver:
                await ADD_NOTE.fetch(driver, {"text": "dropped"})
                raise RuntimeError("the block fails")
        # a value PostgreSQL refuses is SQLAlchemy's DBAPIError with its SQLSTATE (the handler's 400), and the
        # one pooled connection comes back out of its transaction
        with pytest.raises(DBAPIError) as refused:
            async with db.driver_transaction("SELECT 1") as driver:
                await ADD_NOTE.fetch(driver, {"text": "nul \x00"})
        assert (sqlstate(refused.value) or "").startswith("22")
        assert await _notes(db) == ["kept"]
    finally:
        await db.dispose()


async def test_prebuilt_statements_run_in_a_session_only_once_its_transaction_has_begun(create_database) -> None:
    db = Database(await create_database("driver"), pool_size=1)
    try:
        async with db.transaction() as session:
            await session.execute(sa.text("CREATE TABLE notes (body text NOT NULL, kind text NOT NULL)"))
        async with db.transaction() as session:
            with pytest.raises(RuntimeError):  # nothing sent yet: a statement would commit on its own
                await driver_of(session)
            await session.execute(sa.text("SELECT 1"))
            await ADD_NOTE.fetch(await driver_of(session), {"text": "in the session"})
            await session.rollback()
        assert await _notes(db) == []
    finally:
        await db.dispose()
