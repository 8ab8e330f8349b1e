"""Refresh-token rotations per second: auth's ``Sessions.rotate`` in process against a real PostgreSQL, no HTTP.

    uv run --frozen python bench/refresh_rotation.py \\
        --database-url postgresql://postgres:twofold-dev@127.0.0.1:25432/refresh_bench [--seconds 10] [--workers 16]

Migrates the database (created if missing), signs one user in ``--workers`` times, then each worker refreshes its
own session's token in a loop for ``--seconds`` (the rotation's SQL and the access token's signature: what a
refresh costs auth besides HTTP). Prints rotations per second, latency p50/p99, the SQL statements each
rotation sent (BEGIN and COMMIT not counted) and the CPU this process spent per rotation (PostgreSQL's not
included). To compare two versions of auth in one window, run each against
its own database, alternating, with ``PYTHONPATH`` pointing at the other version's ``services/auth/src``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import time
import uuid
from typing import Any

import asyncpg
from sqlalchemy import event

from twofold_auth.__main__ import MIGRATIONS
from twofold_auth.audit.service import Caller
from twofold_auth.models import users
from twofold_auth.sessions.service import Sessions
from twofold_auth.settings import AuthSettings
from twofold_auth.tokens import SigningKeyRing, TokenHasher, TokenIssuer
from twofold_common.db import Database, to_libpq_url
from twofold_common.migrations import upgrade


async def create_database(url: str) -> None:
    libpq = to_libpq_url(url)
    server, _, name = libpq.rpartition("/")
    connection = await asyncpg.connect(f"{server}/postgres")
    try:
        if not await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


async def measure(url: str, seconds: float, workers: int) -> None:
    settings = AuthSettings(database_url=url)
    db = Database(url, pool_size=workers)
    hasher = TokenHasher(settings.token_pepper.get_secret_value())
    sessions = Sessions(db, settings, hasher, TokenIssuer(settings, SigningKeyRing.from_settings(settings)))
    user_id, email = uuid.uuid4(), f"bench-{uuid.uuid4().hex[:8]}@example.com"
    async with db.transaction() as session:
        await session.execute(users.insert().values(id=user_id, email=email, email_normalized=email,
                                                    password_hash="-", status="active"))
    tokens = []
    for _ in range(workers):
        async with db.transaction() as session:
            pair = await sessions.start(session, user_id=user_id, email=email, amr=["pwd", "otp"], caller=Caller())
        tokens.append(pair.refresh_token)

    statements = 0

    def count(*_: Any) -> None:
        nonlocal statements
        statements += 1

    latencies: list[float] = []

    async def refresh(token: str, until: float, record: bool) -> str:
        while time.perf_counter() < until:
            started = time.perf_counter()
            token = (await sessions.rotate(token)).refresh_token
            if record:
                latencies.append(time.perf_counter() - started)
        return token

    warm_until = time.perf_counter() + min(2.0, seconds / 5)
    tokens = await asyncio.gather(*(refresh(token, warm_until, False) for token in tokens))
    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(refresh(token, started + seconds, True) for token in tokens))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    await db.dispose()
    cuts = statistics.quantiles(latencies, n=100)
    print(f"{len(latencies) / elapsed:.0f} rotations/s ({len(latencies)} in {elapsed:.1f} s, {workers} workers); "
          f"p50 {statistics.median(latencies) * 1000:.2f} ms p99 {cuts[98] * 1000:.2f} ms; "
          f"{statements / len(latencies):.2f} statements and {cpu / len(latencies) * 1000:.2f} ms of this "
          "process's CPU per rotation")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=16)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(create_database(args.database_url))
    upgrade(MIGRATIONS, args.database_url)
    asyncio.run(measure(args.database_url, args.seconds, args.workers))


if __name__ == "__main__":
    main()
