"""pytest fixtures for real PostgreSQL and Kafka (loaded by the ``pytest11`` entry point)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
import sqlalchemy as sa

from twofold_common.db import to_libpq_url

from .infra import Infra, provide_infra, repo_root
from .stack import ServiceStack


@pytest.fixture(scope="session")
def infra(request: pytest.FixtureRequest) -> Iterator[Infra]:
    provided = provide_infra(repo_root(Path(str(request.config.rootpath))))
    yield provided
    provided.close()


@pytest.fixture(scope="session")
def kafka_bootstrap(infra: Infra) -> str:
    return infra.kafka_bootstrap


def database_url_for(infra: Infra, name: str) -> str:
    return sa.make_url(infra.pg_admin_url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture
async def create_database(infra: Infra) -> AsyncIterator[Callable[..., Awaitable[str]]]:
    """A factory of fresh, empty databases on the test server, dropped after the test."""
    created: list[str] = []

    async def make(prefix: str = "t") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        admin = await asyncpg.connect(to_libpq_url(infra.pg_admin_url))
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        created.append(name)
        return database_url_for(infra, name)

    yield make
    admin = await asyncpg.connect(to_libpq_url(infra.pg_admin_url))
    try:
        for name in created:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    path = tmp_path / "logs"
    path.mkdir()
    return path


@pytest.fixture
async def service_stack(infra: Infra, create_database, log_dir: Path) -> AsyncIterator[ServiceStack]:
    """Start services with ``await service_stack.start("vault", "auth", ...)``; all stop after the test."""
    stack = ServiceStack(infra, create_database, log_dir)
    yield stack
    stack.stop()
