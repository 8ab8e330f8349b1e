"""The whole system through the gateway alone, on its real port: the four services (in the test's process, or
as processes for a test marked ``processes``), real PostgreSQL and Kafka.

The person is played with an httpx client (their browser) and the provider
simulator (their authenticator app at "Simple TOTP"); third-party apps with
their API keys. Nothing talks to a service except through the gateway, except
the observer helpers that read a database to check what happened.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx

from twofold_common.testing.inprocess import InProcessStack
from twofold_common.testing.plugin import stack_fixtures
from twofold_common.testing.provider import Enrollment, SimpleTotp
from twofold_common.testing.stack import ServiceStack, service_sql
from twofold_common.testing.waiting import eventually

PERIOD = 10  # the vault's shortest time step: less waiting for a fresh code
WINDOW = 3  # the vault here accepts codes up to 3 steps away (a setting it allows; 1 by default): less waiting
PASSWORD = "correct horse battery staple"


@dataclass
class Person:
    email: str
    password: str
    user_id: str
    setup_token: str
    enrollment: Enrollment | None = None

    async def code(self, ahead: int = WINDOW) -> str:
        """A code no earlier one used: each time step is accepted once, so step forward, waiting if needed."""
        assert self.enrollment is not None
        step = max(self.enrollment.current_step(), self.enrollment.last_step + 1)
        while step > self.enrollment.current_step() + ahead:
            await asyncio.sleep(0.5)
        self.enrollment.last_step = step
        return self.enrollment.code_at(step)

    def wrong_code(self) -> str:
        assert self.enrollment is not None
        now = self.enrollment.current_step()
        used = {self.enrollment.code_at(now + d) for d in range(-WINDOW, WINDOW + 2)}  # valid now or a step later
        return next(c for c in (f"{n:06d}" for n in range(10**6)) if c not in used)


@dataclass
class System:
    stack: InProcessStack | ServiceStack
    api: httpx.AsyncClient
    provider: SimpleTotp
    people: list[Person] = field(default_factory=list)

    @property
    def gateway(self):
        return self.stack["gateway"]

    async def register(self) -> Person:
        email = f"person-{uuid.uuid4().hex[:10]}@example.com"
        answer = await self.api.post("/api/auth/register", json={"email": email, "password": PASSWORD})
        assert answer.status_code == 201, answer.text
        body = answer.json()
        return Person(email, PASSWORD, body["userId"], body["setupToken"])

    async def setup(self, person: Person, **body) -> httpx.Response:
        return await self.api.post("/api/auth/setup-2fa", json=body,
                                   headers={"Authorization": f"Bearer {person.setup_token}"})

    async def browse(self, url: str) -> httpx.Response:
        """The person's browser following the provider's redirect (to the gateway's callback)."""
        assert url.startswith(self.gateway.url), url
        return await self.api.get(url[len(self.gateway.url):])

    async def enroll(self, person: Person) -> Person:
        started = await self.setup(person)
        assert started.status_code == 201, started.text
        callback, person.enrollment = self.provider.accept(started.json()["deepLink"])
        answer = await self.browse(callback)
        assert answer.status_code == 200, answer.text
        await eventually(lambda: self._login_is(person, "2fa_required"))
        return person

    async def _login_is(self, person: Person, status: str) -> bool:
        return (await self.login(person)).json().get("status") == status

    async def login(self, person: Person) -> httpx.Response:
        return await self.api.post("/api/auth/login", json={"email": person.email, "password": person.password})

    async def sign_in(self, person: Person) -> dict:
        challenge = (await self.login(person)).json()["challengeToken"]
        answer = await self.api.post("/api/auth/login/2fa", json={"challengeToken": challenge,
                                                                  "code": await person.code()})
        assert answer.status_code == 200, answer.text
        return answer.json()

    def create_app(self, *args: str) -> dict:
        """An operator creates an API client with auth's CLI."""
        done = self.stack["auth"].command("create-client", "--name", "e2e app", *args)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])

    async def sql(self, service: str, query: str, *args):
        """An observer's look into one service's own database."""
        return await service_sql(self.stack, service, query, *args)


@asynccontextmanager
async def running_system(stack: InProcessStack | ServiceStack, settings: dict[str, str]) -> AsyncIterator[System]:
    """The four services; ``settings`` (a ``system_env`` mark's) go to the service their prefix names."""
    env = {"vault": {"VAULT_TOTP_PERIOD": str(PERIOD), "VAULT_TOTP_WINDOW": str(WINDOW)},
           "auth": {},
           "registration": {"REGISTRATION_SWEEP_INTERVAL_SECONDS": "1"},
           "gateway": {"GATEWAY_OPEN_RATE_PER_SECOND": "1000", "GATEWAY_OPEN_BURST": "1000"}}
    for key, value in settings.items():
        env[key.split("_", 1)[0].lower()][key] = value
    await stack.start("vault", "auth", "registration", "gateway", env=env)
    async with httpx.AsyncClient(base_url=stack["gateway"].url, timeout=30) as api:
        yield System(stack, api, SimpleTotp(period=PERIOD))


# A test module shares one system (services in the test's process); a test marked ``own_stack`` gets its own,
# one marked ``system_env`` gets its own with those settings, and one marked ``processes`` (a restart, a
# SIGKILL, a broker outage) gets service processes.
shared_system, own_system, processes_system, system = stack_fixtures("system", running_system, "system_env")


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "system_env(**env): extra settings (AUTH_*, VAULT_*, REGISTRATION_*, "
                                       "GATEWAY_*) for the services, which then run for this test alone")
