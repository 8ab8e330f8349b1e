"""Setup and the timed trickle of scenario 5, sent by this Python process through the gateway like everyone
else (outside every measured figure), and the propagation figures read from the services' databases."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import pyotp
from figures import quantile, rounded
from settings import PASSWORD, PERIOD, ROOT

from twofold_common.db import to_libpq_url
from twofold_common.events import Event
from twofold_common.testing.infra import drop_databases, new_database, provide_infra
from twofold_common.testing.provider import Enrollment, SimpleTotp
from twofold_common.testing.stack import ServiceStack
from twofold_common.testing.waiting import consumer_caught_up


@asynccontextmanager
async def bench_stack(name: str) -> AsyncIterator[ServiceStack]:
    """A stack of service processes, not started, each service on a database of its own that is dropped with the
    stack; the services' logs in a temporary folder named after ``name``."""
    os.environ.setdefault("TWOFOLD_TEST_NATIVE", "1")  # commit timestamps are switched on by infra.sh
    infra = provide_infra(ROOT)
    databases: list[str] = []

    async def database(prefix: str) -> str:
        databases.append(await new_database(infra, f"bench_{prefix}"))
        return databases[-1]

    stack = ServiceStack(infra, database, Path(tempfile.mkdtemp(prefix=f"twofold-{name}-")) / "logs")
    try:
        yield stack
    finally:
        stack.stop()
        await drop_databases(infra, databases)


@dataclass
class Person:
    email: str
    deep_link: str
    enrollment: Enrollment | None = None


class Driver:
    """Setup and the timed trickle, through the gateway like everyone else (not part of any figure)."""

    def __init__(self, stack: ServiceStack, concurrency: int = 8) -> None:
        self.stack = stack
        self.api = httpx.AsyncClient(base_url=stack["gateway"].url, timeout=60)
        self.provider = SimpleTotp(period=PERIOD)
        self.limit = asyncio.Semaphore(concurrency)
        self.counter = 0

    def _ip(self) -> dict[str, str]:
        self.counter += 1  # a fresh address each time: setup is not what the per-ip limits are for
        return {"X-Forwarded-For": f"198.19.{(self.counter >> 8) & 255}.{self.counter & 255}"}

    async def _post(self, path: str, **kwargs) -> dict:
        async with self.limit:
            answer = await self.api.post(path, headers={**kwargs.pop("headers", {}), **self._ip()}, **kwargs)
        if answer.status_code not in (200, 201):
            raise RuntimeError(f"setup: POST {path} answered {answer.status_code}: {answer.text[:300]}")
        return answer.json()

    async def person(self) -> Person:
        email = f"bench-{uuid.uuid4().hex[:12]}@example.com"
        registered = await self._post("/api/auth/register", json={"email": email, "password": PASSWORD})
        started = await self._post("/api/auth/setup-2fa", json={},
                                   headers={"Authorization": f"Bearer {registered['setupToken']}"})
        return Person(email, started["deepLink"])

    def create_app(self) -> dict:
        done = self.stack["auth"].command("create-client", "--name", "bench app")
        if done.returncode != 0:
            raise RuntimeError(f"create-client failed: {done.stderr}")
        return json.loads(done.stdout.strip().splitlines()[-1])

    async def app_known(self, authorization: str, timeout: float = 30) -> None:
        """Until the gateway takes the new app's key: it may hear of a new client by an event, not at once."""
        deadline = time.monotonic() + timeout
        while (await self.api.get("/api/v1/registrations/reg_none", headers={"Authorization": authorization,
                                                                            **self._ip()})).status_code == 401:
            if time.monotonic() > deadline:
                raise RuntimeError(f"setup: the gateway refused the new app's key for {timeout} s")
            await asyncio.sleep(0.2)

    async def app_account(self, authorization: str, account: str) -> Person:
        started = await self._post("/api/v1/setup", json={"account": account},
                                   headers={"Authorization": authorization})
        return Person(account, started["deepLink"])

    def accept(self, person: Person) -> str:
        """The provider's side: a seed and its current code; the callback path to send the browser to."""
        url, person.enrollment = self.provider.accept(person.deep_link)
        return url[len(self.stack["gateway"].url):]

    def accept_later(self, person: Person) -> dict[str, str]:
        """The provider's side, for k6: a seed now, and what k6 needs to build the callback when it sends it
        (the code and the timestamp of that moment: computed earlier, they expire on a slow machine)."""
        link = self.provider.read_deep_link(person.deep_link)
        person.enrollment = Enrollment(seed=pyotp.random_base32(32), seed_id=f"seed_{uuid.uuid4().hex[:12]}",
                                       account=link["account"], period=PERIOD)
        return {"callback": link["callback"][len(self.stack["gateway"].url):], "regToken": link["regToken"],
                "seed": person.enrollment.seed, "seedId": person.enrollment.seed_id}

    async def callback(self, path: str) -> None:
        answer = await self.api.get(path, headers=self._ip())
        if answer.status_code != 200:
            raise RuntimeError(f"callback answered {answer.status_code}: {answer.text[:300]}")

    async def refresh_token(self, person: Person) -> str:
        assert person.enrollment is not None
        challenge = await self._post("/api/auth/login", json={"email": person.email, "password": PASSWORD})
        if challenge.get("status") != "2fa_required":
            raise RuntimeError(f"setup: {person.email} is not enrolled: {challenge.get('status')}")
        step = person.enrollment.current_step()
        pair = await self._post("/api/auth/login/2fa", json={"challengeToken": challenge["challengeToken"],
                                                              "code": person.enrollment.code_at(step)})
        return pair["refreshToken"]

    async def aclose(self) -> None:
        await self.api.aclose()


async def next_step() -> None:
    """Until the TOTP step after this one: a code of a step an enrollment used is accepted no more (the
    replay guard), and the enrollments before this call used this step at the latest."""
    now = int(time.time()) // PERIOD
    while int(time.time()) // PERIOD <= now:
        await asyncio.sleep(0.2)



async def _commits(stack: ServiceStack, since: datetime) -> tuple[dict, dict]:
    """Commit times of ``registration.completed`` events: written by registration, handled by auth."""

    async def commits(service: str, query: str) -> dict[uuid.UUID, datetime]:
        connection = await asyncpg.connect(to_libpq_url(stack[service].env[f"{service.upper()}_DATABASE_URL"]))
        try:
            return {row[0]: row[1] for row in await connection.fetch(query, since)}
        finally:
            await connection.close()

    # the registration's commit wrote the event: the outbox row's own xmin is the relay's once it is marked sent
    written = await commits("registration", "SELECT e.event_id, pg_xact_commit_timestamp(r.xmin) FROM outbox_events e "
                                            "JOIN registrations r "
                                            "ON r.id = (e.payload::jsonb -> 'data' ->> 'registration_id')::uuid "
                                            "WHERE e.event_type = 'registration.completed.v1' "
                                            "AND pg_xact_commit_timestamp(r.xmin) >= $1")
    handled = await commits("auth", "SELECT event_id, pg_xact_commit_timestamp(xmin) FROM processed_events "
                                    "WHERE event_type = 'registration.completed.v1' AND outcome = 'handled' "
                                    "AND pg_xact_commit_timestamp(xmin) >= $1")
    return written, handled


async def propagation(stack: ServiceStack, since: datetime, expected: int, timeout: float = 120) -> dict:
    """Once auth has handled the ``expected`` registrations completed since ``since`` (each activates its
    user or app account): the milliseconds from each commit in registration to the commit in auth."""
    deadline = time.monotonic() + timeout
    while True:
        written, handled = await _commits(stack, since)
        if len(written) >= expected and written.keys() <= handled.keys():
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"auth handled {len(written.keys() & handled.keys())} of {expected} "
                               f"completed registrations in {timeout} s")
        await asyncio.sleep(0.2)
    values = [(handled[e] - w).total_seconds() * 1000 for e, w in written.items()]
    return {"events": len(values), "p50Ms": rounded(quantile(values, 0.5)), "p99Ms": rounded(quantile(values, 0.99)),
            "maxMs": rounded(max(values))}


async def caught_up(stack: ServiceStack, timeout: float = 300) -> None:
    """Every service's consumer has handled every event on its topics written so far.  A stack's consumers are
    new groups (their names are the stack's own), so they begin at each topic's start: on a broker that kept the
    events of earlier runs, they first work through those, which must not fall in a measured window."""
    for name in ("auth", "registration", "vault"):  # the gateway reads its topics without a group: nothing to wait on
        if name not in stack.processes:
            continue
        service, prefix = stack[name], name.upper()
        for topic in sorted({event.topic for event in Event.registry.values() if name in event.consumed_by}):
            await consumer_caught_up(service.env[f"{prefix}_KAFKA_BOOTSTRAP"], service.env[f"{prefix}_CONSUMER_GROUP"],
                                     topic, timeout=timeout)


async def trickle(driver: Driver, people: list[Person], interval: float) -> datetime:
    """Registrations completed one at a time, ``interval`` apart; returns when the first was sent."""
    started = datetime.now(UTC)
    for person in people:
        await driver.callback(driver.accept(person))
        await asyncio.sleep(interval)
    return started
