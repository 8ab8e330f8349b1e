"""Registration's app in the test's process with the real vault and auth (in process too, on real ports), real
PostgreSQL and Kafka; a test marked ``processes`` gets them as processes.

The test plays the person (with the provider simulator) and, for third-party
apps, the gateway: it signs the internal token the gateway would send with an
app's authenticated client id.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest

from twofold_common.internal_auth import CLIENT_ID_HEADER, INTERNAL_AUTH_HEADER
from twofold_common.testing.http import client_of, dev_internal_auth
from twofold_common.testing.inprocess import InProcessStack
from twofold_common.testing.plugin import stack_fixtures
from twofold_common.testing.provider import SimpleTotp
from twofold_common.testing.stack import ServiceStack, service_sql

PASSWORD = "correct horse battery staple"
WINDOW = 3  # the vault here accepts codes up to 3 steps away (a setting it allows; 1 by default)


@dataclass
class Flow:
    stack: InProcessStack | ServiceStack
    auth: httpx.AsyncClient
    registration: httpx.AsyncClient
    provider: SimpleTotp
    window: int = WINDOW

    async def new_user(self) -> dict:
        email = f"user-{uuid.uuid4().hex[:10]}@example.com"
        answer = await self.auth.post("/api/auth/register", json={"email": email, "password": PASSWORD})
        assert answer.status_code == 201, answer.text
        return {**answer.json(), "email": email}

    async def start_setup(self, setup_token: str, **body) -> httpx.Response:
        return await self.registration.post("/api/auth/setup-2fa", json=body,
                                            headers={"Authorization": f"Bearer {setup_token}"})

    def as_app(self, client_id: str, service: str = "registration") -> dict[str, str]:
        """The headers the gateway adds after checking an app's API key."""
        return {INTERNAL_AUTH_HEADER: dev_internal_auth("gateway").token_for(service),
                CLIENT_ID_HEADER: client_id}

    async def follow(self, url: str, **headers: str) -> httpx.Response:
        """The person's browser following the provider's redirect to our callback."""
        async with httpx.AsyncClient(timeout=30) as browser:
            return await browser.get(url, headers=headers)

    async def login_status(self, email: str) -> str:
        answer = await self.auth.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        return answer.json()["status"]

    async def registration_sql(self, query: str, *args):
        return await service_sql(self.stack, "registration", query, *args)

    def create_client(self, *args: str) -> dict:
        done = self.stack["auth"].command("create-client", "--name", "app", *args)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])


@asynccontextmanager
async def running_flow(stack: InProcessStack | ServiceStack, registration_env: dict[str, str]) -> AsyncIterator[Flow]:
    # 10 s time steps (the vault's shortest) and codes up to WINDOW steps ahead keep the waits for a fresh code short
    await stack.start("vault", "auth", "registration", env={
        "registration": registration_env, "vault": {"VAULT_TOTP_PERIOD": "10", "VAULT_TOTP_WINDOW": str(WINDOW)}})
    async with client_of(stack["auth"]) as auth, client_of(stack["registration"]) as registration:
        yield Flow(stack, auth, registration, SimpleTotp(period=10))


# a test module shares one stack; a test marked ``own_stack`` or ``registration_env`` gets its own
shared_flow, own_flow, processes_flow, flow = stack_fixtures("flow", running_flow, "registration_env")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "registration_env(**env): extra REGISTRATION_* settings")
