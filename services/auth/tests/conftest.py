"""Auth's app in the test's process with the real vault and registration (in process too, on real ports),
real PostgreSQL and real Kafka; a test marked ``processes`` gets them as processes.

A person enrolls as in production: setup on registration, the provider
simulator (the one test double) accepts the deep link, and the browser comes
back to the callback through the gateway; registration stores the seed in the
vault and tells auth over Kafka. Third-party apps call with their API keys
through the gateway, which sits behind a proxy at 127.0.0.1 here, so a test
can speak for several source addresses with ``X-Forwarded-For``.
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

import httpx
import pyotp
import pytest
from aiokafka import AIOKafkaConsumer

from twofold_common.events import AUTH_TOPIC
from twofold_common.testing.http import bearer, client_of
from twofold_common.testing.inprocess import InProcessStack
from twofold_common.testing.plugin import stack_fixtures
from twofold_common.testing.processes import ServiceProcess
from twofold_common.testing.provider import SimpleTotp
from twofold_common.testing.stack import ServiceStack, service_sql
from twofold_common.testing.topics import events_in
from twofold_common.testing.waiting import eventually

PERIOD = 10  # the vault's shortest period: tests wait less for a fresh time step
WINDOW = 3  # the vault here accepts codes up to 3 steps away (a setting it allows; 1 by default): less waiting
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
        while step > int(time.time()) // PERIOD + WINDOW:  # beyond the vault's window: wait for the clock
            await asyncio.sleep(0.5)
        self.last_step = step
        return self.code_for(step)

    def wrong_code(self) -> str:
        # none the vault accepts now or a step later
        current = {self.code_for(int(time.time()) // PERIOD + d) for d in range(-WINDOW, WINDOW + 2)}
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
    stack: InProcessStack | ServiceStack
    http: httpx.AsyncClient  # auth
    registration_http: httpx.AsyncClient
    gateway_http: httpx.AsyncClient  # the gateway, behind a proxy at 127.0.0.1 (``X-Forwarded-For`` counts)
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
        """A third-party app enrolls one of its own accounts (no user of auth's) with its API key through the
        gateway; returns once auth has handled the completion."""
        app = self.create_client()
        key = httpx.BasicAuth(app["clientId"], app["clientSecret"])
        started = await self.gateway_http.post("/api/v1/setup", auth=key,
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
        """The person's browser, sent by the provider to the callback at the public address (the gateway's)."""
        base = self.stack["gateway"].url
        assert callback.startswith(f"{base}/api/auth/totp-callback?"), callback
        return await self.gateway_http.get(callback[len(base):])

    async def _login_is(self, user: User, status: str) -> bool:
        return (await self.login(user)).json().get("status") == status

    async def sql(self, query: str, *args: object) -> list:
        """Read (or tamper with) auth's own database, as an observer."""
        return await self.sql_of("auth", query, *args)

    async def sql_of(self, service: str, query: str, *args: object) -> list:
        """An observer's look into one service's own database."""
        return await service_sql(self.stack, service, query, *args)

    async def events_about(self, user_id: uuid.UUID, wanted: set[str], timeout: float = 30) -> set[str]:
        """The types of auth's events keyed by this user, read from Kafka until ``wanted`` are all seen."""
        consumer = AIOKafkaConsumer(AUTH_TOPIC, bootstrap_servers=self.kafka_bootstrap,
                                    auto_offset_reset="earliest", group_id=None)
        await consumer.start()
        seen: set[str] = set()
        key = str(user_id).encode()
        try:
            deadline = time.monotonic() + timeout
            while not wanted <= seen and time.monotonic() < deadline:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    seen |= {event["type"] for record, event in events_in(records) if record.key == key}
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
async def running_auth(stack: InProcessStack | ServiceStack, settings: dict[str, str]) -> AsyncIterator[AuthStack]:
    """``settings``: AUTH_* for auth, VAULT_* for the vault (which decides codes, with their limits)."""
    vault_settings = {key: value for key, value in settings.items() if key.startswith("VAULT_")}
    auth_settings = {key: value for key, value in settings.items() if key not in vault_settings}
    await stack.start("vault", "auth", "registration", "gateway", env={
        "vault": {"VAULT_TOTP_PERIOD": str(PERIOD), "VAULT_TOTP_WINDOW": str(WINDOW), **vault_settings},
        "auth": {"AUTH_CLEANUP_INTERVAL_SECONDS": "2", **auth_settings},
        # a load balancer at 127.0.0.1 in front of the gateway: a test speaks for any source address
        "gateway": {"GATEWAY_TRUSTED_PROXIES": '["127.0.0.1/32"]', "GATEWAY_OPEN_RATE_PER_SECOND": "1000",
                    "GATEWAY_OPEN_BURST": "1000"},
    })
    async with (client_of(stack["auth"]) as http, client_of(stack["registration"]) as registration_http,
                client_of(stack["gateway"]) as gateway_http):
        yield AuthStack(stack, http, registration_http, gateway_http)


# a test module shares one stack; a test marked ``own_stack`` or ``auth_env`` gets its own
shared_auth_stack, own_auth_stack, processes_auth_stack, auth_stack = stack_fixtures(
    "auth_stack", running_auth, "auth_env")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "auth_env(**env): extra AUTH_* settings for auth, VAULT_* for the vault")
