"""The whole system through the gateway alone, on its real port: the five services (in the test's process, or
as processes for a test marked ``processes``), real PostgreSQL and Kafka.

The person is played with an httpx client (their browser) and the provider
simulator (their authenticator app at "Simple TOTP"); third-party apps with
their API keys. Nothing talks to a service except through the gateway, except
the observer helpers that read a database to check what happened.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import pytest

from twofold_common.events import REGISTRATION_TOPIC
from twofold_common.testing.browser import DESKTOP, Viewport, chromium, open_page  # noqa: F401 (fixtures)
from twofold_common.testing.inprocess import InProcessStack
from twofold_common.testing.metrics import scrape
from twofold_common.testing.pages import Visitor
from twofold_common.testing.people import Person, PublicApi
from twofold_common.testing.plugin import stack_fixtures
from twofold_common.testing.provider import SimpleTotp
from twofold_common.testing.stack import ServiceStack, metrics_url, service_sql
from twofold_common.testing.waiting import consumer_caught_up

PERIOD = 10  # the vault's shortest time step: less waiting for a fresh code
WINDOW = 3  # the vault here accepts codes up to 3 steps away (a setting it allows; 1 by default): less waiting


@dataclass
class System(PublicApi):
    stack: InProcessStack | ServiceStack = field(kw_only=True)

    @property
    def gateway(self):
        return self.stack["gateway"]

    def create_app(self, *args: str) -> dict:
        """An operator creates an API client with auth's CLI."""
        done = self.stack["auth"].command("create-client", "--name", "e2e app", *args)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])

    async def sql(self, service: str, query: str, *args):
        """An observer's look into one service's own database."""
        return await service_sql(self.stack, service, query, *args)

    async def lock_out(self, person: Person) -> None:
        """Ten wrong codes within the hour lock the account; the 5-per-15-minutes limit is shortened by ageing
        the attempts the vault recorded, as time would."""
        for _ in range(2):
            challenge = (await self.login(person)).json()["challengeToken"]  # a challenge takes 5 codes
            for _ in range(5):
                wrong = await self.http.post("/api/auth/login/2fa", json={"challengeToken": challenge,
                                                                         "code": person.wrong_code()})
                assert wrong.status_code == 401
            await self.sql("vault", "UPDATE code_attempts SET attempted_at = attempted_at - interval "
                                    "'16 minutes' WHERE subject = $1", person.user_id)

    async def heard_enrollment(self, person: Person) -> None:
        """Auth learns of a completed enrollment by its event: a person takes longer than that to sign in, a test
        may not (and a new system's consumer first reads the topic's history)."""
        await consumer_caught_up(self.stack.infra.kafka_bootstrap, self.stack["auth"].env["AUTH_CONSUMER_GROUP"],
                                 REGISTRATION_TOPIC, timeout=180)
        assert await self.login_is(person, "2fa_required")

    async def metrics(self, service: str) -> dict[str, float]:
        """What Prometheus would read from one service's metrics port (never the gateway's)."""
        return await scrape(metrics_url(self.stack, service))


@asynccontextmanager
async def running_system(stack: InProcessStack | ServiceStack, settings: dict[str, str]) -> AsyncIterator[System]:
    """The five services; ``settings`` (a ``system_env`` mark's) go to the service their prefix names."""
    env = {"vault": {"VAULT_TOTP_PERIOD": str(PERIOD), "VAULT_TOTP_WINDOW": str(WINDOW)},
           "auth": {},
           "registration": {"REGISTRATION_SWEEP_INTERVAL_SECONDS": "1"},
           "web": {},
           "gateway": {"GATEWAY_OPEN_RATE_PER_SECOND": "1000", "GATEWAY_OPEN_BURST": "1000"}}
    for key, value in settings.items():
        env[key.split("_", 1)[0].lower()][key] = value
    await stack.start("vault", "auth", "registration", "web", "gateway", env=env)
    async with httpx.AsyncClient(base_url=stack["gateway"].url, timeout=30) as http:
        yield System(http, SimpleTotp(period=PERIOD), WINDOW, stack=stack)


@pytest.fixture
async def visitor(new_visitor) -> Visitor:
    return await new_visitor()


@pytest.fixture
def new_visitor(open_page, system):  # noqa: F811 (the fixture imported above)
    """Someone in a browser of their own (a new profile: no cookie of another)."""
    async def new(viewport: Viewport = DESKTOP) -> Visitor:
        return Visitor(await open_page(viewport), system.gateway.url, system.provider, system.window)

    return new


# A test module shares one system (services in the test's process); a test marked ``own_stack`` gets its own,
# one marked ``system_env`` gets its own with those settings, and one marked ``processes`` (a restart, a
# SIGKILL, a broker outage) gets service processes.
shared_system, own_system, processes_system, system = stack_fixtures("system", running_system, "system_env")


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "system_env(**env): extra settings (AUTH_*, VAULT_*, REGISTRATION_*, "
                                       "WEB_*, GATEWAY_*) for the services, which then run for this test alone")
