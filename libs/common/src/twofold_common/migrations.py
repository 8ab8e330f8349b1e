"""Alembic per service: each service its own database and its own migration history.

A service's ``migrations/env.py`` is two lines that call ``run_env``.
Migrations run at start-up (or with ``python -m <service> migrate``) under a
PostgreSQL advisory lock, so replicas starting together migrate once.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import sqlalchemy as sa
from alembic import command, context
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from .db import to_asyncpg_url, to_libpq_url
from .tables import event_metadata

MIGRATION_LOCK_ID = 7_424_002


def alembic_config(script_location: Path, database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.set_main_option("sqlalchemy.url", to_asyncpg_url(database_url).replace("%", "%%"))
    return config


def upgrade(script_location: Path, database_url: str, revision: str = "head") -> None:
    """Apply migrations (synchronous: call before the event loop starts, or in a thread)."""
    command.upgrade(alembic_config(script_location, database_url), revision)


def new_revision(script_location: Path, database_url: str, message: str) -> None:
    """Autogenerate a migration from the difference between the models and a migrated database."""
    command.revision(alembic_config(script_location, database_url), message=message, autogenerate=True)


def run_env(target_metadata: sa.MetaData) -> None:
    """Body of a service's ``env.py``: run migrations online on asyncpg, under the lock."""
    url = context.config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("sqlalchemy.url is not set: migrations run through alembic_config")
    metadata = [target_metadata, event_metadata]

    def migrate(connection: Connection) -> None:
        context.configure(connection=connection, target_metadata=metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()

    async def main() -> None:
        engine = create_async_engine(url, poolclass=sa.NullPool)
        try:
            async with engine.connect() as connection:
                await connection.execute(sa.text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
                await connection.commit()
                try:
                    await connection.run_sync(migrate)
                    await connection.commit()
                finally:
                    await connection.rollback()
                    await connection.execute(sa.text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID})
                    await connection.commit()
        finally:
            await engine.dispose()

    asyncio.run(main())


async def create_database_if_missing(database_url: str) -> None:
    """Development and tests: create the service's database on the same server."""
    url = sa.make_url(to_asyncpg_url(database_url))
    admin = await asyncpg.connect(to_libpq_url(url.set(database="postgres").render_as_string(hide_password=False)))
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", url.database)
        if not exists:
            await admin.execute(f'CREATE DATABASE "{url.database}"')
    except asyncpg.DuplicateDatabaseError:
        pass  # created concurrently
    finally:
        await admin.close()
