"""Fixtures for the vault's integration tests: the vault's app in the test's process (served on a real port,
as ``twofold_common.testing.inprocess`` does it), on a real database and broker.

Helpers reach the tests as fixtures (``--import-mode=importlib`` does not let
test modules import this file).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pyotp
import pytest

from twofold_common.db import to_libpq_url
from twofold_common.internal_auth import InternalAuth
from twofold_common.testing.http import dev_internal_auth, signed_client
from twofold_common.testing.infra import Infra
from twofold_common.testing.inprocess import InProcessService
from twofold_common.testing.processes import free_port


def key_ring(**keys: bytes) -> str:
    return json.dumps({key_id: base64.b64encode(key).decode() for key_id, key in keys.items()})


@dataclass
class Enrolled:
    """A seed stored in the vault, and what its owner's authenticator app would show."""

    seed_id: str
    subject: str
    secret: str  # base32, as handed to the vault
    digits: int = 6
    algorithm: str = "SHA1"
    period: int = 30

    def code(self, step: int) -> str:
        digest = getattr(hashlib, self.algorithm.lower())
        return pyotp.TOTP(self.secret, digits=self.digits, digest=digest, interval=self.period).generate_otp(step)

    def step_now(self) -> int:
        return int(time.time() // self.period)


class Vault:
    def __init__(self, process: InProcessService, database_url: str) -> None:
        self.process = process
        self.database_url = database_url

    def client(self, caller: str = "auth", signer: InternalAuth | None = None) -> httpx.AsyncClient:
        """An HTTP client signing its calls as ``caller`` with its development key (the way services call each
        other), or as ``signer`` says."""
        return signed_client(signer or dev_internal_auth(caller), "vault", self.process.url)

    async def sql(self, query: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(to_libpq_url(self.database_url))
        try:
            return await conn.fetch(query, *args)
        finally:
            await conn.close()

    async def enroll(self, subject: str | None = None, *, digits: int = 6, algorithm: str = "SHA1",
                     period: int = 30, label: str | None = None) -> Enrolled:
        """Store a new seed through registration's call, with the previous step's code.

        The current step stays free for the test's first verification.
        """
        # Not in a step's last second: the previous step must still be in the window when the vault checks.
        await wait_for_fresh_step(1, period)
        enrolled = Enrolled("", subject or f"user-{uuid.uuid4()}", pyotp.random_base32(32), digits, algorithm, period)
        async with self.client("registration") as http:
            response = await http.post("/internal/seeds", json={
                "subject": enrolled.subject, "seed": enrolled.secret, "code": enrolled.code(enrolled.step_now() - 1),
                "provider": "legitate", "registrationId": str(uuid.uuid4()), "digits": digits,
                "algorithm": algorithm, "period": period, "label": label,
            })
        assert response.status_code == 201, response.text
        enrolled.seed_id = response.json()["seedId"]
        return enrolled


def vault_service(infra: Infra, database_url: str, name: str = "vault", **settings: str) -> InProcessService:
    """A vault in the test's process (not started); ``settings`` are VAULT_* variables without the prefix."""
    port = free_port()
    env = {"VAULT_PORT": str(port), "VAULT_DATABASE_URL": database_url,
           "VAULT_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
           # its own consumer group: an event is handled by this vault, never by another test's
           "VAULT_CONSUMER_GROUP": f"test-vault-{uuid.uuid4().hex[:8]}",
           **{f"VAULT_{key.upper()}": value for key, value in settings.items()}}
    return InProcessService(name, "twofold_vault", env, port)


@pytest.fixture(scope="module")
async def vault(infra: Infra, module_database) -> AsyncIterator[Vault]:
    """One vault for a test module; tests use fresh subjects, so they do not see each other's data.  Its attempt
    limit and lockout are out of the way of tests that try many codes on one seed (the limits have their own tests,
    test_code_checks.py, on vaults with the defaults)."""
    database_url = await module_database("vault")
    service = await vault_service(infra, database_url, log_level="DEBUG", attempt_limit="1000",
                                  lockout_failures="1000").start()
    try:
        yield Vault(service, database_url)
    finally:
        await service.stop()


@pytest.fixture
async def start_vault(infra: Infra, create_database) -> AsyncIterator[Callable[..., Awaitable[Vault]]]:
    """Start vaults with VAULT_* ``settings`` of the test's choosing, all on one fresh database."""
    database_url = await create_database("vault")
    started: list[InProcessService] = []

    async def start(name: str = "vault", **settings: str) -> Vault:
        service = vault_service(infra, database_url, name, **settings)
        started.append(service)
        await service.start()
        return Vault(service, database_url)

    yield start
    for service in started:
        await service.stop()


async def wait_for_fresh_step(seconds: float, period: int = 30) -> None:
    """Wait, if needed, until the current step has ``seconds`` left."""
    left = period - time.time() % period
    if left < seconds:
        await asyncio.sleep(left + 0.05)


@pytest.fixture(scope="session")
def fresh_step() -> Callable[..., Awaitable[None]]:
    """For tests whose assertions name exact steps: a few seconds of the current step to work in."""

    async def wait(seconds: float = 6) -> None:
        await wait_for_fresh_step(seconds)

    return wait


@pytest.fixture(scope="session")
def ring_json() -> Callable[..., str]:
    """``ring_json(a=key, b=key)``: a VAULT_ENCRYPTION_KEYS value."""
    return key_ring
