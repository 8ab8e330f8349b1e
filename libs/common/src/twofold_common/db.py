"""Async SQLAlchemy on asyncpg: one engine per service, one session per unit of work.

Services and repositories only ``flush()``; the unit of work (a request, or one
consumed event) commits once at its end, and the outbox row written during it
commits with the state change or not at all.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, cast

import asyncpg
from sqlalchemy import event, text
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement


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

    @asynccontextmanager
    async def driver_transaction(self, first: str) -> AsyncIterator[asyncpg.Connection]:
        """A transaction on asyncpg itself, on a connection of the pool, for a hot path of ``Prebuilt`` statements:
        it commits when the block exits normally and rolls back otherwise.  ``first``, a statement without
        parameters (a lock on a key the caller computed), goes in one simple query with BEGIN: one round trip for
        both.  Database errors reach the caller as SQLAlchemy's, as from every other path."""
        async with self.engine.connect() as connection:
            driver = await _driver(connection)
            try:
                try:
                    await driver.execute(f"BEGIN; {first}")
                    yield driver
                    await driver.execute("COMMIT")
                finally:
                    if not driver.is_closed() and driver.is_in_transaction():  # the block failed
                        await driver.execute("ROLLBACK")
            except _DRIVER_ERRORS as exc:
                raise _translated(exc, first) from exc
            finally:
                if driver.is_closed() or driver.is_in_transaction():  # broken, or ROLLBACK was interrupted
                    await connection.invalidate()  # not for the pool

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


_DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)


async def _driver(connection: AsyncConnection) -> asyncpg.Connection:
    driver = (await connection.get_raw_connection()).driver_connection
    assert isinstance(driver, asyncpg.Connection)
    return driver


def _translated(exc: BaseException, statement: str) -> DBAPIError:
    """asyncpg's error as SQLAlchemy raises it: the one handler tells a bad value (400) and an unreachable
    database (503) from a fault of ours by the same attributes."""
    return DBAPIError(statement, None, exc, connection_invalidated=not isinstance(exc, asyncpg.PostgresError))


async def driver_of(session: AsyncSession) -> asyncpg.Connection:
    """The asyncpg connection under the session's transaction, to run ``Prebuilt`` statements among the session's
    own.  The transaction must have begun: SQLAlchemy sends BEGIN with the session's first statement, and a
    statement sent before it would commit on its own."""
    driver = await _driver(await session.connection())
    if not driver.is_in_transaction():
        raise RuntimeError("the session's transaction has not begun: run a statement through the session first")
    return driver


class Prebuilt:
    """A statement built once with SQLAlchemy (bindparams for what changes per call) and compiled once for asyncpg,
    run on the driver connection of a ``Database.driver_transaction`` (or ``driver_of`` a session).  It skips
    SQLAlchemy's work per call: cache lookup, parameter processing, execution context and result rows, which in
    ``bench/statement_cost.py`` cost more CPU than asyncpg's own.  Parameters are passed to asyncpg as they are
    (no SQLAlchemy type processing; UUIDs, datetimes, text, numbers and booleans need none), rows are asyncpg's
    records (columns by name)."""

    def __init__(self, statement: ClauseElement) -> None:
        compiled = cast(SQLCompiler, statement.compile(dialect=asyncpg_dialect()))
        self.sql = str(compiled)
        self._names = list(compiled.positiontup or [])
        self._fixed = dict(compiled.params)  # the values the statement bound itself (literals in its conditions)

    def _args(self, params: Mapping[str, Any]) -> list[Any]:
        return [params[name] if name in params else self._fixed[name] for name in self._names]

    async def fetch(self, driver: asyncpg.Connection, params: Mapping[str, Any]) -> list[asyncpg.Record]:
        try:
            return await driver.fetch(self.sql, *self._args(params))
        except _DRIVER_ERRORS as exc:
            raise _translated(exc, self.sql) from exc
