"""CPU of one transaction of two statements (the vault's limit-state read and its attempt record), by how the
statements are built and run: what SQLAlchemy's construction, caching and ORM session cost per statement on
asyncpg, against the driver alone.  And the vault's code check: its statements through the session
(``check_session``: BEGIN, lock, read, write, COMMIT), and as the vault runs them (``check_driver``:
``Database.driver_transaction`` with ``Prebuilt`` statements, the lock sent with BEGIN, four round trips).

    TWOFOLD_DATA_DIR=... bash deploy/native/infra.sh start    # PostgreSQL
    uv run --frozen python bench/statement_cost.py [--rounds 2000] [--only check_session check_driver ...]

Each variant runs ``--rounds`` transactions on one database, in turns (A, B, C, ..., A, B, C, ...), and reports
this process's CPU per transaction (PostgreSQL's own is not in it) and the wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from twofold_common.db import Database
from twofold_common.testing.infra import drop_databases, new_database, provide_infra
from twofold_vault.checks import repository as checks
from twofold_vault.models import code_attempts as attempts
from twofold_vault.models import metadata
from twofold_vault.models import subject_locks as locks

ROOT = Path(__file__).resolve().parents[1]
SUBJECT = "bench-subject"
WINDOW, LOCKOUT = timedelta(minutes=15), timedelta(hours=1)


def built_state(now: datetime) -> sa.Select:
    """As the vault's repository builds it on each call."""
    at = attempts.c.attempted_at
    return (sa.select(sa.func.count().filter(at > now - WINDOW), sa.func.min(at).filter(at > now - WINDOW),
                      sa.func.count(), sa.select(locks.c.subject).where(locks.c.subject == SUBJECT).exists())
            .where(attempts.c.subject == SUBJECT, attempts.c.method == "totp", attempts.c.outcome == "failure",
                   at > now - max(WINDOW, LOCKOUT)))


_at = attempts.c.attempted_at
PREBUILT_STATE = (
    sa.select(sa.func.count().filter(_at > sa.bindparam("since")), sa.func.min(_at).filter(_at > sa.bindparam("since")),
              sa.func.count(),
              sa.select(locks.c.subject).where(locks.c.subject == sa.bindparam("subject")).exists())
    .where(attempts.c.subject == sa.bindparam("subject"), attempts.c.method == "totp",
           attempts.c.outcome == "failure", _at > sa.bindparam("lockout_since")))
PREBUILT_RECORD = attempts.insert().values(subject=sa.bindparam("subject"), method="totp", outcome="success")
TEXT_STATE = sa.text(
    "SELECT count(*) FILTER (WHERE attempted_at > :since), min(attempted_at) FILTER (WHERE attempted_at > :since),"
    " count(*), EXISTS (SELECT 1 FROM subject_locks WHERE subject = :subject) FROM code_attempts"
    " WHERE subject = :subject AND method = 'totp' AND outcome = 'failure' AND attempted_at > :lockout_since")
TEXT_RECORD = sa.text("INSERT INTO code_attempts (subject, method, outcome) VALUES (:subject, 'totp', 'success')")
RAW_STATE = ("SELECT count(*) FILTER (WHERE attempted_at > $2), min(attempted_at) FILTER (WHERE attempted_at > $2),"
             " count(*), EXISTS (SELECT 1 FROM subject_locks WHERE subject = $1) FROM code_attempts"
             " WHERE subject = $1 AND method = 'totp' AND outcome = 'failure' AND attempted_at > $3")
RAW_RECORD = "INSERT INTO code_attempts (subject, method, outcome) VALUES ($1, 'totp', 'success')"


def params(now: datetime) -> dict:
    return {"subject": SUBJECT, "since": now - WINDOW, "lockout_since": now - LOCKOUT}


async def session_built(db: Database) -> None:
    async with db.transaction() as session:
        (await session.execute(built_state(datetime.now(UTC)))).one()
        await session.execute(attempts.insert().values(subject=SUBJECT, method="totp", outcome="success"))


async def session_prebuilt(db: Database) -> None:
    async with db.transaction() as session:
        (await session.execute(PREBUILT_STATE, params(datetime.now(UTC)))).one()
        await session.execute(PREBUILT_RECORD, {"subject": SUBJECT})


async def session_connection_prebuilt(db: Database) -> None:
    async with db.transaction() as session:
        conn = await session.connection()
        (await conn.execute(PREBUILT_STATE, params(datetime.now(UTC)))).one()
        await conn.execute(PREBUILT_RECORD, {"subject": SUBJECT})


async def session_text(db: Database) -> None:
    async with db.transaction() as session:
        (await session.execute(TEXT_STATE, params(datetime.now(UTC)))).one()
        await session.execute(TEXT_RECORD, {"subject": SUBJECT})


async def session_lambda(db: Database) -> None:
    now = datetime.now(UTC)
    async with db.transaction() as session:
        (await session.execute(sa.lambda_stmt(lambda: built_state(now)))).one()
        await session.execute(sa.lambda_stmt(
            lambda: attempts.insert().values(subject=SUBJECT, method="totp", outcome="success")))


async def connection_built(db: Database) -> None:
    async with db.engine.begin() as conn:
        (await conn.execute(built_state(datetime.now(UTC)))).one()
        await conn.execute(attempts.insert().values(subject=SUBJECT, method="totp", outcome="success"))


async def connection_prebuilt(db: Database) -> None:
    async with db.engine.begin() as conn:
        (await conn.execute(PREBUILT_STATE, params(datetime.now(UTC)))).one()
        await conn.execute(PREBUILT_RECORD, {"subject": SUBJECT})


async def connection_text(db: Database) -> None:
    async with db.engine.begin() as conn:
        (await conn.execute(TEXT_STATE, params(datetime.now(UTC)))).one()
        await conn.execute(TEXT_RECORD, {"subject": SUBJECT})


async def connection_exec_driver_sql(db: Database) -> None:
    async with db.engine.begin() as conn:
        now = datetime.now(UTC)
        (await conn.exec_driver_sql(RAW_STATE, (SUBJECT, now - WINDOW, now - LOCKOUT))).one()
        await conn.exec_driver_sql(RAW_RECORD, (SUBJECT,))


async def driver(db: Database) -> None:
    """asyncpg alone, on a connection of the same pool, in the transaction SQLAlchemy began."""
    async with db.engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        assert raw is not None
        async with raw.transaction():
            now = datetime.now(UTC)
            await raw.fetchrow(RAW_STATE, SUBJECT, now - WINDOW, now - LOCKOUT)
            await raw.execute(RAW_RECORD, SUBJECT)


SESSION_STATE = checks._state_and_seeds()
SESSION_DECIDE = checks._decide()


async def check_session(db: Database) -> None:
    """The vault's check of a code refused untried (lock, read, write) with its statements through the session."""
    now = datetime.now(UTC)
    async with db.transaction() as session:
        await session.execute(sa.text(checks.lock_statement(SUBJECT)))
        (await session.execute(SESSION_STATE, {"subject": SUBJECT, "seed_id": None, "since": now - WINDOW,
                                               "counted_since": now - LOCKOUT})).all()
        (await session.execute(SESSION_DECIDE, {
            "of_subject": SUBJECT, "of_method": "totp", "seed": None, "step": None, "recorded_outcome": "limited",
            "recorded_reason": None, "lock_if_failed": False})).one()


async def check_driver(db: Database) -> None:
    """The same check as the vault runs it: ``Database.driver_transaction`` and ``Prebuilt`` statements."""
    async with db.driver_transaction(checks.lock_statement(SUBJECT)) as driver:
        await checks.state_and_seeds(driver, SUBJECT, None, window=WINDOW, lockout_window=LOCKOUT)
        await checks.decide(driver, SUBJECT, "totp", outcome="limited")


async def empty_session(db: Database) -> None:
    async with db.transaction() as session:
        await session.connection()  # BEGIN and COMMIT only


async def empty_connection(db: Database) -> None:
    async with db.engine.begin():
        pass


VARIANTS: dict[str, Callable[[Database], Awaitable[None]]] = {
    name: globals()[name] for name in (
        "session_built", "session_prebuilt", "session_connection_prebuilt", "session_text", "session_lambda",
        "connection_built", "connection_prebuilt", "connection_text", "connection_exec_driver_sql", "driver",
        "empty_session",
        "empty_connection", "check_session", "check_driver")}


async def main(rounds: int, only: list[str]) -> None:
    variants = {name: variant for name, variant in VARIANTS.items() if not only or name in only}
    infra = provide_infra(ROOT)
    url = await new_database(infra, "bench_statements")
    db = Database(url, pool_size=2)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        for variant in variants.values():  # warm: connections, prepared statements, compiled caches
            for _ in range(50):
                await variant(db)
        cpu = dict.fromkeys(variants, 0.0)
        wall = dict.fromkeys(variants, 0.0)
        for _ in range(10):
            for name, variant in variants.items():
                started, started_cpu = time.perf_counter(), time.process_time()
                for _ in range(rounds // 10):
                    await variant(db)
                cpu[name] += time.process_time() - started_cpu
                wall[name] += time.perf_counter() - started
        print(f"{'variant':<28} {'CPU us/tx':>10} {'wall us/tx':>11}")
        for name in variants:
            print(f"{name:<28} {cpu[name] * 1e6 / rounds:>10.0f} {wall[name] * 1e6 / rounds:>11.0f}")
    finally:
        await db.dispose()
        await drop_databases(infra, [url])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--only", nargs="*", default=[], choices=VARIANTS, help="these variants (default: all)")
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.only))
