"""Where an event's propagation spends its time, at idle and under login load: each hop timed.

    TWOFOLD_DATA_DIR=... TWOFOLD_PG_PORT=... TWOFOLD_KAFKA_PORT=... bash deploy/native/infra.sh start
    TWOFOLD_DATA_DIR=... TWOFOLD_PG_PORT=... TWOFOLD_KAFKA_PORT=... \\
        uv run --frozen python bench/propagation.py [--workers 16] [--events 40] [--seconds 20]

Starts the four services as ``bench/run.py`` does, then times the trickle of completed registrations of
scenario 5 (written by registration, handled by auth) twice: at idle, and while ``--workers`` concurrent
password steps of a login keep auth's argon2 threads busy (scenario 1's CPU shape, from this Python process
instead of k6); it also reads each service's RSS at idle and its peak under that load.  Each event's hops
come from the two databases, so the timings share one clock:

- written: the commit of registration's transaction (the completed registration's row, written with the event);
- relay picked: ``published_at`` (the start of the relay's transaction that sent it);
- broker acked: the commit of that transaction (it commits after every message of its batch was acknowledged);
- consumer began: ``processed_events.handled_at`` (the start of auth's transaction that handled it);
- handled: the commit of that transaction: the event's propagation, which the issue's target is about.

The figures are one machine's, shared with the load: compare runs made in one window.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
from datetime import UTC, datetime

import asyncpg
import httpx
from driver import Driver, Person, bench_stack, caught_up, propagation, trickle
from figures import quantile
from processes import rss_mib
from run import say
from settings import PASSWORD, SERVICE_SETTINGS, SERVICES

from twofold_common.db import to_libpq_url
from twofold_common.testing.stack import ServiceStack

HOPS = ("picked", "acked", "began", "handled")


async def hops(stack: ServiceStack, since: datetime) -> dict[str, dict]:
    """Per hop, the milliseconds from the event's write (p50, p99, max over the events since ``since``)."""

    async def rows(service: str, query: str) -> dict:
        connection = await asyncpg.connect(to_libpq_url(stack[service].env[f"{service.upper()}_DATABASE_URL"]))
        try:
            return {row[0]: row[1:] for row in await connection.fetch(query, since)}
        finally:
            await connection.close()

    # The outbox row's own xmin is the relay's once it is marked sent: the write's commit is the registration's.
    written = await rows("registration", "SELECT e.event_id, pg_xact_commit_timestamp(r.xmin), e.published_at, "
                                         "pg_xact_commit_timestamp(e.xmin) FROM outbox_events e JOIN registrations r "
                                         "ON r.id = (e.payload::jsonb -> 'data' ->> 'registration_id')::uuid "
                                         "WHERE e.event_type = 'registration.completed.v1' AND e.created_at >= $1")
    handled = await rows("auth", "SELECT event_id, handled_at, pg_xact_commit_timestamp(xmin) FROM processed_events "
                                 "WHERE event_type = 'registration.completed.v1' AND handled_at >= $1")
    series: dict[str, list[float]] = {hop: [] for hop in HOPS}
    for event_id, (committed, picked, acked) in written.items():
        began, done = handled[event_id]
        for hop, moment in zip(HOPS, (picked, acked, began, done), strict=True):
            series[hop].append((moment - committed).total_seconds() * 1000)
    return {hop: {"p50": round(quantile(v, 0.5), 1), "p99": round(quantile(v, 0.99), 1), "max": round(max(v), 1)}
            for hop, v in series.items()} | {"events": len(written)}


async def password_steps(base_url: str, people: list[Person], workers: int, until: float) -> int:
    """Password steps of enrolled people, ``workers`` at a time, until ``until`` (monotonic): argon2 load."""
    addresses = itertools.count()
    done = 0

    async def worker(client: httpx.AsyncClient, person: Person) -> None:
        nonlocal done
        while time.monotonic() < until:
            n = next(addresses)
            answer = await client.post("/api/auth/login", json={"email": person.email, "password": PASSWORD},
                                       headers={"X-Forwarded-For": f"198.18.{(n >> 8) & 255}.{n & 255}"})
            if answer.status_code != 200:
                raise RuntimeError(f"login answered {answer.status_code}: {answer.text[:200]}")
            done += 1

    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        await asyncio.gather(*(worker(client, people[i % len(people)]) for i in range(workers)))
    return done


async def peak_rss(stack: ServiceStack, until: float) -> dict[str, float]:
    """Each service's highest RSS (MiB), sampled every half second until ``until`` (monotonic)."""
    peak = {name: 0.0 for name in SERVICES}
    while time.monotonic() < until:
        for name in SERVICES:
            peak[name] = max(peak[name], round(rss_mib(stack[name].proc.pid), 1))
        await asyncio.sleep(0.5)
    return peak


async def main(args: argparse.Namespace) -> dict:
    result: dict = {"workers": args.workers, "events": args.events, "startedAt": datetime.now(UTC).isoformat()}
    async with bench_stack("propagation") as stack:
        say("starting the services")
        await stack.start("vault", "auth", "registration", "gateway", env=SERVICE_SETTINGS)
        driver = Driver(stack)
        warm_up = datetime.now(UTC)
        await driver.callback(driver.accept(await driver.person()))
        await propagation(stack, warm_up, 1)
        await caught_up(stack)  # no earlier events handled in the measured window
        people = await asyncio.gather(*(driver.person() for _ in range(2 * args.events + 8)))
        login_people, idle_people, loaded_people = people[:8], people[8::2], people[9::2]
        since = datetime.now(UTC)
        for person in login_people:
            await driver.callback(driver.accept(person))
        await propagation(stack, since, len(login_people))

        result["idleRssMiB"] = {name: round(rss_mib(stack[name].proc.pid), 1) for name in SERVICES}
        say("trickle at idle")
        since = await trickle(driver, idle_people, 0.1)
        await propagation(stack, since, len(idle_people))
        result["idle"] = await hops(stack, since)

        say(f"trickle under {args.workers} concurrent password steps")
        until = time.monotonic() + args.seconds

        async def loaded() -> datetime:
            await asyncio.sleep(2.0)
            return await trickle(driver, loaded_people, (args.seconds - 4) / len(loaded_people))

        logins, since, result["loadedPeakRssMiB"] = await asyncio.gather(
            password_steps(stack["gateway"].url, login_people, args.workers, until), loaded(), peak_rss(stack, until))
        await propagation(stack, since, len(loaded_people))
        result["loaded"] = await hops(stack, since)
        result["passwordStepsPerSecond"] = round(logins / args.seconds, 1)
        await driver.aclose()
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=16, help="concurrent password steps (scenario 1: 16 VUs)")
    parser.add_argument("--events", type=int, default=40, help="registrations timed at idle and again under load")
    parser.add_argument("--seconds", type=float, default=20, help="seconds of login load")
    print(json.dumps(asyncio.run(main(parser.parse_args())), indent=2))
