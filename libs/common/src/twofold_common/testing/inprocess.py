"""Services in the test's own process: each app served on a real port by uvicorn on the test's event loop.

The middle layer of the suite. A service under test is the same app its process serves (``create_app`` with
its settings, the same lifespan: outbox relay, consumer, periodic jobs), on real PostgreSQL and Kafka, and its
peers call it over real HTTP; what a test saves is the start of an interpreter per service. A test talks to a
service through ``httpx.ASGITransport`` (``service.client()``) or through its port (``service.url``).
Only what needs a process of its own (a SIGKILL, a restart, a broker outage under it) uses ``stack.ServiceStack``.

The ``ServiceStack`` interface is kept (``start``, ``stack[name].url``, ``.env``, ``.logs()``, ``.command()``),
so a conftest picks one or the other without its tests knowing.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import importlib
import logging
import os
import subprocess
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn

from ..cli import server_config
from ..logging import JsonFormatter
from ..migrations import upgrade
from ..runtime import Runtime
from .infra import Infra
from .processes import free_port, service_command
from .stack import SERVICES, START_ORDER, service_env
from .waiting import eventually


@dataclass(eq=False)
class _Log:
    """One in-process service's log: the lines its process would have written, at its level."""

    formatter: JsonFormatter
    level: int
    lines: list[str] = field(default_factory=list)


# the log of the in-process service that runs the current code: set for each request and for the lifespan
# (whose tasks, the relay, the consumer and the jobs, inherit it)
_current_log: contextvars.ContextVar[_Log | None] = contextvars.ContextVar("twofold_test_service_log", default=None)
_running: list[_Log] = []  # the logs of the services running now: the root logger lets their levels through


class _PerServiceLog(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        log = _current_log.get()
        if log is not None and record.levelno >= log.level:
            log.lines.append(log.formatter.format(record))


_handler = _PerServiceLog()


def _open_log(service: str, level: str) -> _Log:
    """A service's log (as ``configure_logging`` sets up its process's, but beside the test runner's handlers)."""
    log = _Log(JsonFormatter(service), logging.getLevelName(level.upper()))
    root = logging.getLogger()
    if _handler not in root.handlers:
        root.addHandler(_handler)
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # its reconnect storms, as in the processes
        logging.getLogger("uvicorn.access").disabled = True  # query strings: ours (twofold.access) has none
    _running.append(log)
    root.setLevel(min(entry.level for entry in _running))
    return log


def _close_log(log: _Log) -> None:
    _running.remove(log)
    logging.getLogger().setLevel(min((entry.level for entry in _running), default=logging.WARNING))


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the test runner's signals stay the test runner's


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Settings read from these variables, as the process would read them (one thread: no one else looks)."""
    environ: MutableMapping[str, str] = os.environ
    saved = {key: environ.get(key) for key in values}
    environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                environ.pop(key, None)
            else:
                environ[key] = value


@dataclass
class InProcessService:
    name: str
    module: str
    env: dict[str, str]
    port: int
    app: Any = None
    server: _Server | None = None
    task: asyncio.Task | None = None
    log: _Log | None = None
    fastapi: Any = None  # the service's app, under ``app``'s log capture

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def runtime(self) -> Runtime:
        """The running service's database pool, relay and consumer, for observers."""
        return self.fastapi.state.runtime

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        """A client that calls the app in process (no socket), as a caller at 127.0.0.1 would."""
        transport = httpx.ASGITransport(app=self.app)
        return httpx.AsyncClient(transport=transport, base_url=self.url, **{"timeout": 30, **kwargs})

    async def start(self) -> InProcessService:
        await self.migrate()
        return await self.serve()

    async def migrate(self) -> None:
        """The service's migrations, as its process runs them at start. One service at a time: alembic keeps
        the migration being run in module globals."""
        main, settings = self._settings()
        if main.MIGRATIONS is not None:
            await asyncio.to_thread(upgrade, main.MIGRATIONS, settings.require_database_url())

    def _settings(self) -> tuple[Any, Any]:
        main = importlib.import_module(f"{self.module}.__main__")
        settings_module, _, settings_class = main.SETTINGS.partition(":")
        with _environment(self.env):
            return main, getattr(importlib.import_module(settings_module), settings_class)()

    async def serve(self) -> InProcessService:
        """Serve the migrated service until ``stop``."""
        main, settings = self._settings()
        app_module, _, app_factory = main.APP.partition(":")
        self.log = _open_log(self.name, settings.log_level)
        app = getattr(importlib.import_module(app_module), app_factory)(settings)
        log = self.log
        self.fastapi = app

        async def this_service(scope: Any, receive: Any, send: Any) -> None:
            token = _current_log.set(log)
            try:
                await app(scope, receive, send)
            finally:
                _current_log.reset(token)

        self.app = this_service
        self.server = _Server(server_config(this_service, settings))  # as the process serves it
        self.task = asyncio.create_task(self.server.serve(), name=f"in-process-{self.name}")
        server, task = self.server, self.task

        async def started() -> bool:
            if task.done():
                raise RuntimeError(f"{self.name} did not start:\n{self.logs()[-4000:]}")
            return server.started

        await eventually(started, timeout=60, interval=0.02)
        return self

    async def stop(self) -> None:
        if self.server is not None and self.task is not None:
            self.server.should_exit = True
            await self.task
        if self.log is not None and self.log in _running:
            _close_log(self.log)

    def logs(self) -> str:
        return "\n".join(self.log.lines) if self.log else ""

    def command(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return service_command(self.module, self.env, *args, timeout=timeout)


@dataclass
class InProcessStack:
    infra: Infra
    create_database: Callable[[str], Awaitable[str]]
    processes: dict[str, InProcessService] = field(default_factory=dict)

    def __getitem__(self, name: str) -> InProcessService:
        return self.processes[name]

    async def start(self, *names: str, env: dict[str, dict[str, str]] | None = None) -> InProcessStack:
        ports = {name: free_port() for name in names}
        started = []
        for name in sorted(names, key=START_ORDER.index):
            values = await service_env(self.infra, self.create_database, name, ports, (env or {}).get(name, {}))
            service = self.processes[name] = InProcessService(name, SERVICES[name][0], values, ports[name])
            await service.migrate()
            started.append(service)
        await asyncio.gather(*(service.serve() for service in started))  # none needs a peer to start serving
        return self

    async def stop(self) -> None:
        await asyncio.gather(*(service.stop() for service in self.processes.values()))
