"""pytest fixtures for real PostgreSQL and Kafka (loaded by the ``pytest11`` entry point)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from .infra import Infra, drop_databases, new_database, provide_infra, repo_root
from .stack import ServiceStack


@pytest.fixture(scope="session")
def infra(request: pytest.FixtureRequest) -> Iterator[Infra]:
    provided = provide_infra(repo_root(Path(str(request.config.rootpath))))
    yield provided
    provided.close()


@pytest.fixture(scope="session")
def kafka_bootstrap(infra: Infra) -> str:
    return infra.kafka_bootstrap


@pytest.fixture
async def create_database(infra: Infra) -> AsyncIterator[Callable[..., Awaitable[str]]]:
    """A factory of fresh, empty databases on the test server, dropped after the test."""
    created: list[str] = []

    async def make(prefix: str = "t") -> str:
        created.append(await new_database(infra, prefix))
        return created[-1]

    yield make
    await drop_databases(infra, created)


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
