"""The gateway's app in the test's process in front of the real auth, registration and vault (in process too,
on real ports), real PostgreSQL and Kafka; a test marked ``processes`` gets them all as processes.

The tests play the world: a person with an authenticator (the provider
simulator), a third-party app with an API key, and an attacker; all of them
know only the gateway's address.  Operators' actions (creating an API client)
go through auth's command line, as in production.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import pytest

from twofold_common.testing.http import bearer, client_of
from twofold_common.testing.inprocess import InProcessStack
from twofold_common.testing.plugin import stack_fixtures
from twofold_common.testing.provider import Enrollment, SimpleTotp
from twofold_common.testing.stack import ServiceStack
from twofold_common.testing.waiting import eventually

PERIOD = 10  # the vault's shortest time step: fresh codes come quickly
PASSWORD = "correct horse battery staple"
# a request through the gateway that always reaches the service (open, cheap)
LAST_REQUEST = {"auth": ("GET", "/.well-known/jwks.json"), "registration": ("POST", "/api/auth/setup-2fa/confirm")}


def requests_for(log: str, path: str) -> int:
    """How many requests for ``path`` a service's access log shows (one JSON line per request)."""
    count = 0
    for line in log.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("logger") == "twofold.access" and entry.get("path") == path:
            count += 1
    return count


@dataclass
class Person:
    email: str
    user_id: str
    setup_token: str
    enrollment: Enrollment | None = None
    last_step: int = -1

    async def fresh_code(self) -> str:
        """The authenticator's code for a time step not used yet (the vault accepts each step once)."""
        assert self.enrollment is not None
        step = max(self.enrollment.current_step(), self.last_step + 1, self.enrollment.last_step + 1)
        while step > self.enrollment.current_step() + 1:  # beyond the vault's window: wait for the clock
            await asyncio.sleep(0.5)
        self.last_step = step
        return self.enrollment.code_at(step)


@dataclass
class World:
    stack: InProcessStack | ServiceStack
    http: httpx.AsyncClient  # the gateway, and nothing else
    provider: SimpleTotp = field(default_factory=lambda: SimpleTotp(period=PERIOD))

    async def register(self) -> Person:
        email = f"person-{uuid.uuid4().hex[:10]}@example.com"
        answer = await self.http.post("/api/auth/register", json={"email": email, "password": PASSWORD})
        assert answer.status_code == 201, answer.text
        body = answer.json()
        return Person(email, body["userId"], body["setupToken"])

    async def enroll(self, person: Person) -> Person:
        """Setup through the gateway, the provider's page, the browser back to the gateway's callback."""
        started = await self.http.post("/api/auth/setup-2fa", json={}, headers=bearer(person.setup_token))
        assert started.status_code == 201, started.text
        callback, person.enrollment = self.provider.accept(started.json()["deepLink"])
        assert callback.startswith(str(self.http.base_url).rstrip("/") + "/api/auth/totp-callback?")
        async with httpx.AsyncClient(timeout=30) as browser:
            landed = await browser.get(callback)
        assert landed.status_code == 200, landed.text
        await eventually(lambda: self._login_is(person, "2fa_required"))
        return person

    async def _login_is(self, person: Person, status: str) -> bool:
        return (await self.login(person)).json().get("status") == status

    async def login(self, person: Person) -> httpx.Response:
        return await self.http.post("/api/auth/login", json={"email": person.email, "password": PASSWORD})

    async def sign_in(self, person: Person, **headers: str) -> dict:
        challenge = (await self.login(person)).json()["challengeToken"]
        answer = await self.http.post("/api/auth/login/2fa", headers=headers,
                                      json={"challengeToken": challenge, "code": await person.fresh_code()})
        assert answer.status_code == 200, answer.text
        return answer.json()

    def create_client(self, *args: str) -> dict:
        done = self.stack["auth"].command("create-client", "--name", "app",
                                          "--callback-url", "https://app.example.com/2fa/done", *args)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])

    def requests_seen_by(self, service: str, path: str) -> int:
        return requests_for(self.stack[service].logs(), path)

    async def settled(self, service: str) -> None:
        """Wait until what reached ``service`` so far is in its access log.

        A request's line is written just after its answer is sent; once the line of a last
        request, sent after all the others, is there, theirs are too.
        """
        method, path = LAST_REQUEST[service]
        before = self.requests_seen_by(service, path)
        await self.http.request(method, path, json={} if method == "POST" else None)

        async def logged() -> bool:
            return self.requests_seen_by(service, path) > before

        await eventually(logged, timeout=10)


@asynccontextmanager
async def running_world(stack: InProcessStack | ServiceStack, gateway_env: dict[str, str]) -> AsyncIterator[World]:
    await stack.start("vault", "auth", "registration", "gateway", env={
        "vault": {"VAULT_TOTP_PERIOD": str(PERIOD)},
        "gateway": gateway_env,
    })
    async with client_of(stack["gateway"]) as http:
        yield World(stack, http)


# a test module shares one world; a test marked ``own_stack`` or ``gateway_env`` gets its own
shared_world, own_world, processes_world, world = stack_fixtures("world", running_world, "gateway_env")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "gateway_env(**env): extra GATEWAY_* settings")
