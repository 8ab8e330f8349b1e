"""The gateway's app in the test's process in front of the real auth, registration and vault (in process too,
on real ports), real PostgreSQL and Kafka; a test marked ``processes`` gets them all as processes.

The tests play the world: a person with an authenticator (the provider
simulator), a third-party app with an API key, and an attacker; all of them
know only the gateway's address.  Operators' actions (creating an API client)
go through auth's command line, as in production.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest

from twofold_common.testing.http import client_of
from twofold_common.testing.inprocess import InProcessStack
from twofold_common.testing.people import PublicApi
from twofold_common.testing.plugin import stack_fixtures
from twofold_common.testing.provider import SimpleTotp
from twofold_common.testing.stack import ServiceStack
from twofold_common.testing.waiting import eventually

PERIOD = 10  # the vault's shortest time step: fresh codes come quickly
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
class World(PublicApi):
    stack: InProcessStack | ServiceStack = field(kw_only=True)

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
        yield World(http, SimpleTotp(period=PERIOD), stack=stack)


# a test module shares one world; a test marked ``own_stack`` or ``gateway_env`` gets its own
shared_world, own_world, processes_world, world = stack_fixtures("world", running_world, "gateway_env")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "gateway_env(**env): extra GATEWAY_* settings")
