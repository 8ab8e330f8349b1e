"""PostgreSQL stopped for real: every service answers 503 with Retry-After, and recovers without a restart.

The shared PostgreSQL is never stopped: the services of this test keep their
databases on a private cluster (twofold_common.testing.postgres) and the
shared Kafka.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from twofold_common.testing.infra import Infra
from twofold_common.testing.postgres import PostgresCluster, private_cluster
from twofold_common.testing.provider import SimpleTotp
from twofold_common.testing.stack import ServiceStack
from twofold_common.testing.waiting import eventually

PASSWORD = "correct horse battery staple"


@pytest.fixture
def cluster() -> Iterator[PostgresCluster]:
    with private_cluster() as started:
        yield started


@pytest.fixture
async def stack(infra: Infra, cluster: PostgresCluster, log_dir: Path) -> AsyncIterator[ServiceStack]:
    services = ServiceStack(infra, cluster.create_database, log_dir)
    try:
        await services.start("vault", "auth", "registration", "gateway",
                             env={"gateway": {"GATEWAY_OPEN_RATE_PER_SECOND": "1000", "GATEWAY_OPEN_BURST": "1000"}})
        yield services
    finally:
        services.stop()


def _new_account() -> dict[str, str]:
    return {"email": f"outage-{uuid.uuid4().hex[:10]}@example.com", "password": PASSWORD}


async def test_a_database_outage_answers_503_with_retry_after_and_recovers_without_restart(
    stack: ServiceStack, cluster: PostgresCluster
) -> None:
    gateway = stack["gateway"]
    provider = SimpleTotp()
    pids = {name: process.proc.pid for name, process in stack.processes.items()}
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as api:
        document = (await api.get("/openapi.json")).json()
        for path in ("/api/auth/register", "/api/auth/login", "/api/auth/totp-callback"):
            for operation in document["paths"][path].values():
                unavailable = operation["responses"]["503"]  # the public contract says what follows
                assert "application/problem+json" in unavailable["content"], path
                assert "Retry-After" in unavailable["headers"], path

        person = _new_account()
        registered = await api.post("/api/auth/register", json=person)
        assert registered.status_code == 201, registered.text
        started = await api.post("/api/auth/setup-2fa", json={},
                                 headers={"Authorization": f"Bearer {registered.json()['setupToken']}"})
        assert started.status_code == 201, started.text
        deep_link = started.json()["deepLink"]

        def callback() -> str:
            return provider.accept(deep_link)[0][len(gateway.url):]

        calls = {
            "register": lambda: api.post("/api/auth/register", json=_new_account()),
            "login": lambda: api.post("/api/auth/login", json=person),
            "callback": lambda: api.get(callback()),
        }
        cluster.stop()
        try:
            # several rounds over the gateway's kept-alive connections: an answer must not break the next one
            for _ in range(3):
                for name, call in calls.items():
                    answer = await call()
                    assert answer.status_code == 503, (name, answer.status_code, answer.text)
                    assert answer.headers["content-type"] == "application/problem+json", name
                    assert answer.json()["type"].endswith("/database-unavailable"), (name, answer.text)
                    assert int(answer.headers["retry-after"]) >= 1, name
        finally:
            cluster.start()

        def answers(name: str, status: int):
            async def check() -> httpx.Response | None:
                answer = await calls[name]()
                return answer if answer.status_code == status else None
            return check

        # each service finds its pooled connections dead once, then opens new ones
        await eventually(answers("register", 201), timeout=60)
        login = await eventually(answers("login", 200), timeout=60)
        assert login.json()["status"] == "2fa_setup_required", login.text
        await eventually(answers("callback", 200), timeout=60)
    assert {name: process.proc.pid for name, process in stack.processes.items()} == pids
    assert all(process.proc.poll() is None for process in stack.processes.values())

