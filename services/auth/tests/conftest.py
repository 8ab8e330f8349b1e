"""Auth with the real vault and registration processes, real PostgreSQL and real Kafka.

A person enrolls as in production: setup on registration, the provider
simulator (the one test double) accepts the deep link, and the browser comes
back to registration's callback; registration stores the seed in the vault and
tells auth over Kafka. Only a third-party app's call to registration is passed
on with the gateway's internal credential (``enroll_app_account``): these
stacks run no gateway.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import asyncpg
import httpx
import pyotp
import pytest
from aiokafka import AIOKafkaConsumer

from twofold_common.db import to_libpq_url
from twofold_common.events import AUTH_TOPIC
from twofold_common.internal_auth import CLIENT_ID_HEADER, INTERNAL_AUTH_HEADER, InternalAuth
from twofold_common.settings import DEV_INTERNAL_SECRET
from twofold_common.testing.http import bearer
from twofold_common.testing.plugin import stack_fixtures
from twofold_common.testing.processes import ServiceProcess
from twofold_common.testing.provider import SimpleTotp
from twofold_common.testing.stack import ServiceStack
from twofold_common.testing.waiting import eventually

PERIOD = 10  # the vault's shortest period: tests wait less for a fresh time step
PASSWORD = "correct horse battery staple"
APP_CALLBACK = "https://app.example.com/cb"


@dataclass
class Authenticator:
    """The person's authenticator app: a fresh code for every successful use (each step is accepted once)."""

    seed: str
    last_step: int = -1

    def code_for(self, step: int) -> str:
        return pyotp.TOTP(self.seed, interval=PERIOD).at(step * PERIOD)

    async def fresh_code(self) -> str:
        step = max(int(time.time()) // PERIOD, self.last_step + 1)
        while step > int(time.time()) // PERIOD + 1:  # beyond the vault's window: wait for the clock
            await asyncio.sleep(0.5)
        self.last_step = step
        return self.code_for(step)

    def wrong_code(self) -> str:
        current = {self.code_for(int(time.time()) // PERIOD + d) for d in (-1, 0, 1, 2)}
        return next(c for c in (f"{n:06d}" for n in range(1000000)) if c not in current)


@dataclass
class User:
    email: str
    password: str
    user_id: uuid.UUID
    setup_token: str
    authenticator: Authenticator | None = None
    seed_id: str | None = None  # the provider's seed id, which auth hands out at login
    recovery_codes: list[str] = field(default_factory=list)  # shown once, at the end of a first enrollment


@dataclass
class AuthStack:
    stack: ServiceStack
    http: httpx.AsyncClient  # auth
    registration_http: httpx.AsyncClient
    provider: SimpleTotp = field(default_factory=lambda: SimpleTotp(period=PERIOD))
    users: list[User] = field(default_factory=list)

    @property
    def auth(self) -> ServiceProcess:
        return self.stack["auth"]

    @property
    def vault(self) -> ServiceProcess:
        return self.stack["vault"]

    @property
    def kafka_bootstrap(self) -> str:
        return self.stack.infra.kafka_bootstrap

    async def register(self, **extra) -> User:
        email = f"user-{uuid.uuid4().hex[:10]}@example.com"
        response = await self.http.post("/api/auth/register", json={"email": email, "password": PASSWORD, **extra})
        assert response.status_code == 201, response.text
        body = response.json()
        return User(email, PASSWORD, uuid.UUID(body["userId"]), body["setupToken"])

    async def enroll(self, user: User) -> User:
        """The person's enrollment through registration with the provider, until auth lets them log in."""
        started = await self.registration_http.post("/api/auth/setup-2fa", json={},
                                                    headers=bearer(user.setup_token))
        assert started.status_code == 201, started.text
        callback, enrollment = self.provider.accept(started.json()["deepLink"])
        landed = await self._follow(callback)
        assert landed.status_code == 200, landed.text
        user.recovery_codes = landed.json().get("recoveryCodes") or []
        user.authenticator = Authenticator(enrollment.seed, last_step=enrollment.last_step)
        user.seed_id = enrollment.seed_id
        await eventually(lambda: self._login_is(user, "2fa_required"))
        return user

    async def enroll_app_account(self, account: str) -> None:
        """A third-party app enrolls one of its own accounts (no user of auth's) through registration; returns
        once auth has handled the completion. The app's call is passed on as the gateway would."""
        app = self.create_client()
        as_app = {INTERNAL_AUTH_HEADER: InternalAuth("gateway", DEV_INTERNAL_SECRET).token_for("registration"),
                  CLIENT_ID_HEADER: app["clientId"]}
        started = await self.registration_http.post("/api/auth/setup-2fa", headers=as_app,
                                                    json={"account": account, "callbackUrl": APP_CALLBACK})
        assert started.status_code == 201, started.text
        callback, _ = self.provider.accept(started.json()["deepLink"])
        landed = await self._follow(callback)
        assert landed.status_code == 303 and landed.headers["location"].startswith(APP_CALLBACK), landed.text
        [completed] = await self.sql_of("registration", "SELECT event_id FROM outbox_events WHERE event_type = "
                                        "'registration.completed.v1' AND position($1 in payload) > 0",
                                        f'"{account}"')

        async def handled() -> bool:
            return bool(await self.sql("SELECT 1 FROM processed_events WHERE event_id = $1 AND outcome = 'handled'",
                                       completed["event_id"]))

        await eventually(handled)

    async def _follow(self, callback: str) -> httpx.Response:
        """The person's browser, sent by the provider to registration's callback."""
        base = self.stack["registration"].url
        assert callback.startswith(f"{base}/api/auth/totp-callback?"), callback
        return await self.registration_http.get(callback[len(base):])

    async def _login_is(self, user: User, status: str) -> bool:
        return (await self.login(user)).json().get("status") == status

    async def sql(self, query: str, *args: object) -> list:
        """Read (or tamper with) auth's own database, as an observer."""
        return await self.sql_of("auth", query, *args)

    async def sql_of(self, service: str, query: str, *args: object) -> list:
        """An observer's look into one service's own database."""
        prefix = {"vault": "VAULT", "auth": "AUTH", "registration": "REGISTRATION"}[service]
        conn = await asyncpg.connect(to_libpq_url(self.stack[service].env[f"{prefix}_DATABASE_URL"]))
        try:
            return await conn.fetch(query, *args)
        finally:
            await conn.close()

    async def events_about(self, user_id: uuid.UUID, wanted: set[str], timeout: float = 30) -> set[str]:
        """The types of auth's events keyed by this user, read from Kafka until ``wanted`` are all seen."""
        consumer = AIOKafkaConsumer(AUTH_TOPIC, bootstrap_servers=self.kafka_bootstrap,
                                    auto_offset_reset="earliest", group_id=None)
        await consumer.start()
        seen: set[str] = set()
        try:
            deadline = time.monotonic() + timeout
            while not wanted <= seen and time.monotonic() < deadline:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    seen |= {json.loads(r.value)["type"] for r in records if r.key == str(user_id).encode()}
        finally:
            await consumer.stop()
        return seen

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.auth.command(*args)

    def create_client(self, *args: str) -> dict:
        done = self.cli("create-client", "--name", "test app", "--callback-url", APP_CALLBACK, *args)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])

    async def login(self, user: User) -> httpx.Response:
        return await self.http.post("/api/auth/login", json={"email": user.email, "password": user.password})

    async def sign_in(self, user: User) -> dict:
        challenge = (await self.login(user)).json()["challengeToken"]
        assert user.authenticator is not None
        response = await self.http.post("/api/auth/login/2fa", json={
            "challengeToken": challenge, "code": await user.authenticator.fresh_code()})
        assert response.status_code == 200, response.text
        return response.json()


@asynccontextmanager
async def running_auth(stack: ServiceStack, auth_settings: dict[str, str]) -> AsyncIterator[AuthStack]:
    await stack.start("vault", "auth", "registration", env={
        "vault": {"VAULT_TOTP_PERIOD": str(PERIOD)},
        "auth": {"AUTH_CLEANUP_INTERVAL_SECONDS": "2", **auth_settings},
    })
    async with (httpx.AsyncClient(base_url=stack["auth"].url, timeout=30) as http,
                httpx.AsyncClient(base_url=stack["registration"].url, timeout=30) as registration_http):
        yield AuthStack(stack, http, registration_http)


# a test module shares one stack; a test marked ``own_stack`` or ``auth_env`` gets its own
shared_auth_stack, own_auth_stack, auth_stack = stack_fixtures("auth_stack", running_auth, "auth_env")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "auth_env(**env): extra AUTH_* settings for the auth process")
