"""Async SQLAlchemy on asyncpg: one engine per service, one session per unit of work.

Services and repositories only ``flush()``; the unit of work (a request, or one
consumed event) commits once at its end, and the outbox row written during it
commits with the state change or not at all.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


def to_asyncpg_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs (what operators write) and use asyncpg."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError("database URL must start with postgresql://")


def to_libpq_url(url: str) -> str:
    """The same URL without the SQLAlchemy driver, for asyncpg.connect()."""
    return "postgresql://" + to_asyncpg_url(url)[len("postgresql+asyncpg://") :]


# A connection that sat in the pool longer than this is pinged before use (a restarted server or a
# network device may have dropped it).  SQLAlchemy's pool_pre_ping would ping on every checkout: with
# asyncpg that is three round trips (begin, ";", rollback), more than some requests' own work.
IDLE_PING_SECONDS = 10.0


def _ping_connections_that_sat_idle(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "checkin")
    def _checked_in(dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is not None and time.monotonic() - idle_since > IDLE_PING_SECONDS:
            try:
                dbapi_connection.ping()
            except Exception as exc:
                raise DisconnectionError("pooled connection is gone") from exc  # the pool opens a new one


def _connect_errors_as_dbapi_errors(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "do_connect")
    def _connect(dialect: Any, record: Any, cargs: Any, cparams: Any) -> Any:
        try:
            return dialect.connect(*cargs, **cparams)
        except OSError as exc:
            # asyncpg raises a refused or timed-out connect as a bare OSError, which SQLAlchemy passes on
            # unwrapped: wrapped, every database error reaches the one DBAPIError handler.
            raise OperationalError("connect", None, exc, connection_invalidated=True) from exc


def sqlstate(exc: DBAPIError) -> str | None:
    """The SQLSTATE of PostgreSQL's answer (the adapter's error or the asyncpg error behind it)."""
    code = getattr(exc.orig, "sqlstate", None) or getattr(getattr(exc.orig, "__cause__", None), "sqlstate", None)
    return code if isinstance(code, str) else None


# 08: connection exception; 53: insufficient resources (too many connections); 57P: the server shuts
# down, restarts or is not accepting connections yet.
_UNAVAILABLE_SQLSTATES = ("08", "53", "57P")


def database_unavailable(exc: DBAPIError) -> bool:
    """The database could not be reached or dropped the connection: nothing the request did wrong."""
    if exc.connection_invalidated or isinstance(exc, InterfaceError):  # incl. asyncpg's "connection is closed"
        return True
    if isinstance(exc.orig, OSError) or isinstance(getattr(exc.orig, "__cause__", None), OSError):
        return True
    return (sqlstate(exc) or "").startswith(_UNAVAILABLE_SQLSTATES)


class Database:
    def __init__(self, url: str, *, pool_size: int = 20, echo: bool = False) -> None:
        self.url = to_asyncpg_url(url)
        self.engine: AsyncEngine = create_async_engine(
            self.url,
            # A fixed pool: under load, connections opened beyond it were closed again at once, and each
            # new one costs a TLS probe, SCRAM and a backend fork (the benchmark showed the churn).
            # Past the pool, a request waits for a connection.
            pool_size=pool_size,
            max_overflow=0,
            pool_recycle=1800,
            echo=echo,
        )
        _ping_connections_that_sat_idle(self.engine)
        _connect_errors_as_dbapi_errors(self.engine)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=False)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session whose work commits when the block exits normally and rolls back otherwise."""
        async with self.sessionmaker() as session:
            async with session.begin():
                yield session

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
