"""Async SQLAlchemy on asyncpg: one engine per service, one session per unit of work.

Services and repositories only ``flush()``; the unit of work (a request, or one
consumed event) commits once at its end, and the outbox row written during it
commits with the state change or not at all.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
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


class Database:
    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False) -> None:
        self.url = to_asyncpg_url(url)
        self.engine: AsyncEngine = create_async_engine(
            self.url,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
            pool_recycle=1800,
            echo=echo,
        )
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
