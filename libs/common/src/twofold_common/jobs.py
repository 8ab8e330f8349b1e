"""Periodic jobs that run once per interval across all replicas.

Each run takes a transaction-scoped advisory lock named after the job; a
replica that does not get it skips the round.  Jobs must be idempotent
(delete what is expired, mark what is overdue), so a run that overlaps a
crash or a clock skew does no harm.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Awaitable, Callable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from .db import Database

log = logging.getLogger(__name__)

Job = Callable[[AsyncSession], Awaitable[int]]


def lock_id(name: str) -> int:
    return zlib.crc32(f"twofold-job:{name}".encode())


async def run_once(db: Database, name: str, job: Job) -> int | None:
    """Run ``job`` if no other replica is running it; returns its count, or None when skipped."""
    async with db.transaction() as session:
        if not await session.scalar(sa.select(sa.func.pg_try_advisory_xact_lock(lock_id(name)))):
            return None
        return await job(session)


async def run_periodically(db: Database, name: str, job: Job, interval: float, stopping: asyncio.Event) -> None:
    while not stopping.is_set():
        try:
            count = await run_once(db, name, job)
            if count:
                log.info("periodic job done", extra={"job": name, "count": count})
        except Exception as exc:
            log.warning("periodic job failed", extra={"job": name, "error": repr(exc)})
        try:
            await asyncio.wait_for(stopping.wait(), interval)
        except TimeoutError:
            pass
