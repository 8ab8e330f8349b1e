"""The transaction budget of the hot paths, counted by PostgreSQL itself (``pg_stat_database.xact_commit``).

Every commit is a round trip and a disk flush on the hottest paths, so how many each request makes is part of
its contract: the password step of a login at most 2 in auth, the code step at most 2 in auth and 1 in the
vault, a refresh 1, the provider's callback 1 in registration and 1 in the vault.

How the count is made exact, per service database:

- the service's pool is closed before and after the request: a backend reports its statistics when it exits
  (while it lives, up to 10 s late), so both readings are complete;
- each new connection makes PostgreSQL commit one transaction of its own (the backend's start), which is not
  the request's: the ``sessions`` column counts the connections, and the count subtracts them;
- the outbox relays are held off by their own lock, taken in a transaction this test rolls back, so an event
  the request wrote is not sent (and marked sent) during the count; the periodic jobs run hourly here, and
  every consumer has caught up before a count starts;
- PostgreSQL's own autovacuum workers visit every database now and then and add their transactions to the
  same counter.  Nothing can lower a count, so each request is counted three times (three like requests)
  and the least count is the request's.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import asyncpg
import pytest

from twofold_common.db import to_libpq_url
from twofold_common.outbox import RELAY_LOCK_ID
from twofold_common.testing.waiting import consumer_caught_up, eventually

T = TypeVar("T")
P = TypeVar("P")
DATABASES = {"auth": "AUTH_DATABASE_URL", "registration": "REGISTRATION_DATABASE_URL", "vault": "VAULT_DATABASE_URL"}
HOURLY = "3600"


# Every periodic job hourly: between requests, nothing writes.
QUIET = pytest.mark.system_env(**{f"{prefix}_EVENT_RETENTION_INTERVAL_SECONDS": HOURLY
                                   for prefix in ("AUTH", "REGISTRATION", "VAULT")},
                               AUTH_CLEANUP_INTERVAL_SECONDS=HOURLY, AUTH_AUDIT_SEAL_INTERVAL_SECONDS=HOURLY,
                               AUTH_BACKCHANNEL_LOGOUT_INTERVAL_SECONDS=HOURLY,
                               REGISTRATION_SWEEP_INTERVAL_SECONDS=HOURLY)


class Counter:
    def __init__(self, system: Any) -> None:
        self.system = system
        self.stack = system.stack
        self.urls = {name: to_libpq_url(self.stack[name].env[var]) for name, var in DATABASES.items()}

    async def _reading(self, admin: asyncpg.Connection) -> dict[str, tuple[int, int]]:
        await admin.execute("SELECT pg_stat_clear_snapshot()")
        rows = await admin.fetch("SELECT datname, xact_commit, sessions FROM pg_stat_database")
        by_name = {row["datname"]: (row["xact_commit"], row["sessions"]) for row in rows}
        return {name: by_name[url.rsplit("/", 1)[-1]] for name, url in self.urls.items()}

    async def _close_pools(self, admin: asyncpg.Connection, holders: set[int]) -> None:
        """Give every service a new pool, and wait until each backend of the old ones has exited (and so
        reported its statistics).  A connection that was checked out while its pool closed stays with the old
        pool, never used again, so it is ended here.  A connection a service opens afterwards (a relay's look)
        reports its start at once."""
        names = [url.rsplit("/", 1)[-1] for url in self.urls.values()]
        pooled = await admin.fetchval(
            "SELECT array_agg(pid) FROM pg_stat_activity WHERE datname = ANY($1::text[]) AND pid <> ALL($2::int[]) "
            "AND query NOT LIKE 'LISTEN%'", names, list(holders)) or []
        for name in self.urls:
            await self.stack[name].runtime.database.engine.dispose()
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = ANY($1::int[])",
                            pooled)

        async def exited() -> bool:
            return not await admin.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1::int[])",
                                            pooled)

        await eventually(exited, timeout=10, interval=0.02)

    async def quiet(self) -> None:
        """Every event written so far is sent and handled."""
        for name in self.urls:
            await eventually(lambda n=name: self._nothing_unsent(n))
        bootstrap = self.stack.infra.kafka_bootstrap
        for name in self.urls:
            group = self.stack[name].env[f"{name.upper()}_CONSUMER_GROUP"]
            for topic in {event.topic for event in self.stack[name].fastapi.state.handled_events}:
                await consumer_caught_up(bootstrap, group, topic)

    async def _nothing_unsent(self, name: str) -> bool:
        unsent = await self.system.sql(name, "SELECT count(*) AS n FROM outbox_events WHERE published_at IS NULL")
        return unsent[0]["n"] == 0

    @asynccontextmanager
    async def _relays_held(self) -> AsyncIterator[set[int]]:
        connections = [await asyncpg.connect(url) for url in self.urls.values()]
        try:
            for conn in connections:
                await conn.execute("BEGIN")
                await conn.execute("SELECT pg_advisory_xact_lock($1)", RELAY_LOCK_ID)
            yield {conn.get_server_pid() for conn in connections}
        finally:
            for conn in connections:
                await conn.execute("ROLLBACK")
                await conn.close()

    async def least(self, prepare: Callable[[], Awaitable[P]], request: Callable[[P], Awaitable[T]],
                    times: int = 3) -> tuple[list[T], dict[str, int]]:
        """The answers of ``times`` requests (each on what ``prepare`` made, uncounted), and the least count
        of commits per database among them."""
        answers, least = [], {name: 1 << 30 for name in self.urls}
        for _ in range(times):
            prepared = await prepare()
            answer, counted = await self.commits(functools.partial(request, prepared))
            answers.append(answer)
            least = {name: min(least[name], counted[name]) for name in self.urls}
        return answers, least

    async def commits(self, request: Callable[[], Awaitable[T]]) -> tuple[T, dict[str, int]]:
        """``request``'s answer, and how many transactions it committed in each service's database."""
        await self.quiet()
        admin = await asyncpg.connect(to_libpq_url(self.stack.infra.pg_admin_url))
        try:
            async with self._relays_held() as holders:
                await self._close_pools(admin, holders)
                before = await self._reading(admin)
                answer = await request()
                await self._close_pools(admin, holders)
                after = await self._reading(admin)
        finally:
            await admin.close()
        counted = {}
        for name in self.urls:
            (commits_before, sessions_before), (commits_after, sessions_after) = before[name], after[name]
            counted[name] = (commits_after - commits_before) - (sessions_after - sessions_before)
        return answer, counted


@QUIET
async def test_the_hot_paths_keep_their_transaction_budget(system) -> None:
    counter = Counter(system)
    people = []

    async def started_enrollment() -> str:
        person = await system.register()
        started = await system.setup(person)
        assert started.status_code == 201, started.text
        callback, person.enrollment = system.provider.accept(started.json()["deepLink"])
        people.append(person)
        return callback

    landings, commits = await counter.least(started_enrollment, system.browse)
    assert [landing.status_code for landing in landings] == [200] * 3, [landing.text for landing in landings]
    assert commits == {"registration": 1, "vault": 1, "auth": 0}, "the provider's callback"

    person = people[-1]
    await eventually(lambda: system.login_is(person, "2fa_required"))  # auth heard of the enrollment
    logins, commits = await counter.least(_nothing, lambda _: system.login(person))
    assert [login.json()["status"] for login in logins] == ["2fa_required"] * 3
    assert commits["auth"] <= 2 and commits["vault"] == commits["registration"] == 0, ("the password step", commits)

    challenges = [login.json()["challengeToken"] for login in logins]

    async def challenge_and_code() -> tuple[str, str]:
        return challenges.pop(), await person.code()

    signed_in, commits = await counter.least(challenge_and_code, lambda answer: system.http.post(
        "/api/auth/login/2fa", json={"challengeToken": answer[0], "code": answer[1]}))
    assert [answer.status_code for answer in signed_in] == [200] * 3, [answer.text for answer in signed_in]
    assert commits["auth"] <= 2 and commits["vault"] == 1 and commits["registration"] == 0, ("the code step", commits)

    refresh_tokens = [answer.json()["refreshToken"] for answer in signed_in]

    async def refresh_token() -> str:
        return refresh_tokens.pop()

    refreshed, commits = await counter.least(refresh_token, lambda token: system.http.post(
        "/api/auth/token/refresh", json={"refreshToken": token}))
    assert [answer.status_code for answer in refreshed] == [200] * 3, [answer.text for answer in refreshed]
    assert commits == {"auth": 1, "vault": 0, "registration": 0}, "a refresh"


async def _nothing() -> None:
    return None

