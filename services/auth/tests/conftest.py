"""Auth against a real vault process, real PostgreSQL and real Kafka.

Registration is played by the test through the same channels registration
uses: the vault's internal API (store a seed) and a ``registration.completed``
event on Kafka.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import pyotp
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from twofold_common.db import to_libpq_url
from twofold_common.events import AUTH_TOPIC, Event, RegistrationCompleted
from twofold_common.internal_auth import InternalAuth
from twofold_common.settings import DEV_INTERNAL_SECRET
from twofold_common.testing.infra import Infra
from twofold_common.testing.processes import ServiceProcess, free_port

PERIOD = 10  # the vault's shortest period: tests wait less for a fresh time step
PASSWORD = "correct horse battery staple"


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
    seed_id: str | None = None


@dataclass
class AuthStack:
    auth: ServiceProcess
    vault: ServiceProcess
    kafka_bootstrap: str
    http: httpx.AsyncClient
    vault_http: httpx.AsyncClient
    producer: AIOKafkaProducer
    users: list[User] = field(default_factory=list)

    async def register(self, **extra) -> User:
        email = f"user-{uuid.uuid4().hex[:10]}@example.com"
        response = await self.http.post("/api/auth/register", json={"email": email, "password": PASSWORD, **extra})
        assert response.status_code == 201, response.text
        body = response.json()
        return User(email, PASSWORD, uuid.UUID(body["userId"]), body["setupToken"])

    async def enroll(self, user: User) -> User:
        """What registration does after the provider's callback: store the seed, then announce completion."""
        user.authenticator = Authenticator(pyotp.random_base32(32))
        step = int(time.time()) // PERIOD
        stored = await self.vault_http.post("/internal/seeds", json={
            "subject": str(user.user_id), "seed": user.authenticator.seed, "code": user.authenticator.code_for(step),
            "provider": "legitate", "registrationId": str(uuid.uuid4()), "period": PERIOD,
            "externalSeedId": f"ext-{uuid.uuid4().hex[:8]}",
        })
        assert stored.status_code == 201, stored.text
        user.authenticator.last_step = step
        user.seed_id = stored.json()["seedId"]
        await self.publish(RegistrationCompleted(registration_id=uuid.uuid4(), user_id=user.user_id,
                                                 provider="legitate", seed_id=user.seed_id,
                                                 completed_at=datetime.now(UTC)))
        await self.wait_active(user)
        return user

    async def publish(self, event: Event) -> None:
        envelope = event.envelope("/registration")
        await self.producer.send_and_wait(event.topic, envelope.model_dump_json().encode(),
                                          key=(envelope.subject or "").encode())

    async def wait_active(self, user: User, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            body = (await self.login(user)).json()
            if body.get("status") == "2fa_required":
                return
            await asyncio.sleep(0.2)
        raise AssertionError("registration.completed was not applied in time")

    async def sql(self, query: str, *args: object) -> list:
        """Read (or tamper with) auth's own database, as an observer."""
        conn = await asyncpg.connect(to_libpq_url(self.auth.env["AUTH_DATABASE_URL"]))
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
        done = self.cli("create-client", "--name", "test app", "--callback-url", "https://app.example.com/cb", *args)
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


def auth_env(port: int, database_url: str, kafka: str, vault_url: str, **extra: str) -> dict[str, str]:
    return {"AUTH_PORT": str(port), "AUTH_DATABASE_URL": database_url, "AUTH_KAFKA_BOOTSTRAP": kafka,
            "AUTH_VAULT_URL": vault_url, "AUTH_CONSUMER_GROUP": f"test-auth-{uuid.uuid4().hex[:8]}",
            "AUTH_CLEANUP_INTERVAL_SECONDS": "2", **extra}


@pytest.fixture
async def auth_stack(request: pytest.FixtureRequest, infra: Infra, create_database,
                     log_dir: Path) -> AsyncIterator[AuthStack]:
    marker = request.node.get_closest_marker("auth_env")
    extra = marker.kwargs if marker else {}
    vault_port, auth_port = free_port(), free_port()
    vault = ServiceProcess("vault", "twofold_vault", {
        "VAULT_PORT": str(vault_port), "VAULT_DATABASE_URL": await create_database("vault"),
        "VAULT_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
        "VAULT_CONSUMER_GROUP": f"test-vault-{uuid.uuid4().hex[:8]}",
    }, vault_port, log_dir).start()
    auth = ServiceProcess("auth", "twofold_auth", auth_env(
        auth_port, await create_database("auth"), infra.kafka_bootstrap, vault.url, **extra,
    ), auth_port, log_dir).start()
    auth.wait_healthy(path="/readyz")
    registration = InternalAuth("registration", DEV_INTERNAL_SECRET)
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all")
    await producer.start()
    stack = AuthStack(
        auth, vault, infra.kafka_bootstrap, httpx.AsyncClient(base_url=auth.url, timeout=30),
        registration.client("vault", vault.url, timeout=30),
        producer,
    )
    try:
        yield stack
    finally:
        await producer.stop()
        await stack.http.aclose()
        await stack.vault_http.aclose()
        auth.stop()
        vault.stop()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "auth_env(**env): extra AUTH_* settings for the auth process")
