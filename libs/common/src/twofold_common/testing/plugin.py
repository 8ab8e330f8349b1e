"""pytest fixtures for real PostgreSQL and Kafka (loaded by the ``pytest11`` entry point)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest

from .infra import Infra, drop_databases, new_database, provide_infra, repo_root
from .inprocess import InProcessStack
from .stack import ServiceStack

T = TypeVar("T")


@pytest.fixture(scope="session")
def infra(request: pytest.FixtureRequest) -> Iterator[Infra]:
    provided = provide_infra(repo_root(Path(str(request.config.rootpath))))
    yield provided
    provided.close()


@pytest.fixture(scope="session")
def kafka_bootstrap(infra: Infra) -> str:
    return infra.kafka_bootstrap


@asynccontextmanager
async def _databases(infra: Infra) -> AsyncIterator[Callable[..., Awaitable[str]]]:
    created: list[str] = []

    async def make(prefix: str = "t") -> str:
        created.append(await new_database(infra, prefix))
        return created[-1]

    try:
        yield make
    finally:
        await drop_databases(infra, created)


@pytest.fixture
async def create_database(infra: Infra) -> AsyncIterator[Callable[..., Awaitable[str]]]:
    """A factory of fresh, empty databases on the test server, dropped after the test."""
    async with _databases(infra) as make:
        yield make


@pytest.fixture(scope="module")
async def module_database(infra: Infra) -> AsyncIterator[Callable[..., Awaitable[str]]]:
    """``create_database`` for what a whole test module shares: dropped after the module."""
    async with _databases(infra) as make:
        yield make


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    path = tmp_path / "logs"
    path.mkdir()
    return path


@pytest.fixture
def service_stack(infra: Infra, create_database, log_dir: Path) -> Iterator[ServiceStack]:
    """Start services with ``await service_stack.start("vault", "auth", ...)``; all stop after the test."""
    stack = ServiceStack(infra, create_database, log_dir)
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
async def module_app_stack(infra: Infra, module_database) -> AsyncIterator[InProcessStack]:
    """Services in the test's process (``testing.inprocess``) shared by the tests of one module (those that do
    not need their own, see ``needs_own_stack``); all stop after the module."""
    stack = InProcessStack(infra, module_database)
    yield stack
    await stack.stop()


@pytest.fixture
async def app_stack(infra: Infra, create_database) -> AsyncIterator[InProcessStack]:
    """``service_stack`` with the services in the test's process (``testing.inprocess``)."""
    stack = InProcessStack(infra, create_database)
    yield stack
    await stack.stop()


def needs_own_stack(request: pytest.FixtureRequest, *settings_markers: str) -> bool:
    """Whether a test gets services of its own rather than its module's shared ones.

    A test that kills, restarts or stops a process says so with ``processes``; one that stops the broker or
    asserts on what only its own services could have done (a count over a whole table) with ``own_stack``;
    a test with settings of its own (one of ``settings_markers``) needs services started with them.
    """
    return any(request.node.get_closest_marker(name) for name in ("own_stack", "processes", *settings_markers))


def stack_fixtures(name: str, running: Callable[[Any, dict[str, str]], AbstractAsyncContextManager[T]],
                   settings_marker: str | None = None) -> tuple[Any, ...]:
    """The fixtures ``shared_<name>`` (one per module), ``own_<name>`` (one per test, started with the
    settings of its ``settings_marker``), ``processes_<name>`` (one per test, real processes) and ``name``,
    which gives a test the one it needs.

    ``running(stack, settings)`` starts the services on ``stack`` and yields what tests use: apps in the
    test's process (``module_app_stack``, ``app_stack``), or, for a test marked ``processes``, service
    processes (``service_stack``). In a conftest:
    ``shared_world, own_world, processes_world, world = stack_fixtures("world", running_world, "gateway_env")``.
    """
    def settings_of(request: pytest.FixtureRequest) -> dict[str, str]:
        marker = request.node.get_closest_marker(settings_marker) if settings_marker else None
        return marker.kwargs if marker else {}

    @pytest.fixture(name=f"shared_{name}", scope="module")
    async def shared(module_app_stack: InProcessStack) -> AsyncIterator[T]:
        async with running(module_app_stack, {}) as value:
            yield value

    @pytest.fixture(name=f"own_{name}")
    async def own(request: pytest.FixtureRequest, app_stack: InProcessStack) -> AsyncIterator[T]:
        async with running(app_stack, settings_of(request)) as value:
            yield value

    @pytest.fixture(name=f"processes_{name}")
    async def processes(request: pytest.FixtureRequest, service_stack: ServiceStack) -> AsyncIterator[T]:
        async with running(service_stack, settings_of(request)) as value:
            yield value

    @pytest.fixture(name=name)
    def pick(request: pytest.FixtureRequest) -> T:
        # a plain fixture: the async one it picks runs on the session's loop, which is not running yet
        markers = (settings_marker,) if settings_marker else ()
        if request.node.get_closest_marker("processes"):
            return request.getfixturevalue(f"processes_{name}")
        return request.getfixturevalue(f"{'own' if needs_own_stack(request, *markers) else 'shared'}_{name}")

    return shared, own, processes, pick


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "own_stack: the test stops the broker or counts a whole table: "
                                       "it gets services of its own")
    config.addinivalue_line("markers", "processes: the test kills, restarts or stops a service: it gets service "
                                       "processes of its own, also where its module's services run in process")
