"""Issue 8's acceptance: two replicas of every service, 200 concurrent registrations, SIGTERMs mid-load.

The native stack plays a Kubernetes namespace: two processes per service share
the service's database and Kafka consumer group, and a round-robin TCP
balancer per service (the test's stand-in for a Kubernetes Service) sends each
new connection to a live replica. Services reach each other only through the
balancers, and the people only through the gateways' balancer.

Each person registers, starts 2FA setup and follows the provider's callback
(the simulator accepts). No request may go unanswered or get a 5xx: each
failure is counted and the count asserted to be zero; a request that was
answered 2xx must have had its effect.
Mid-load, one replica of each service gets SIGTERM (staggered) and must exit
cleanly. Afterwards every registration is applied exactly once everywhere:
one ``registration.completed`` per person in the registration outbox, each
sent to Kafka once, handled once by auth (one ``processed_events`` row, the
user active, one ``user.2fa_enabled``), one seed per person in the vault (and
one ``seed.stored``). ``TWOFOLD_REPLICA_PEOPLE`` changes the number of people.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from twofold_common.db import to_libpq_url
from twofold_common.events import REGISTRATION_TOPIC, RegistrationCompleted, SeedStored, TwoFactorEnabled
from twofold_common.peer import KEEPALIVE_EXPIRY_SECONDS
from twofold_common.testing.processes import ServiceProcess, free_port, stop_all
from twofold_common.testing.provider import SimpleTotp
from twofold_common.testing.waiting import eventually

PEOPLE = int(os.environ.get("TWOFOLD_REPLICA_PEOPLE", "200"))
PASSWORD = "correct horse battery staple"
# (fraction of people completed, service whose first replica gets SIGTERM then)
SIGTERMS = [(0.20, "registration"), (0.35, "auth"), (0.50, "vault"), (0.65, "gateway")]
# how long after the SIGTERM a stopping replica's endpoint leaves its Service: within the drain (draining.py)
ENDPOINT_REMOVAL_SECONDS = 1.0
# name -> (module, env prefix, has a database); started in this order
SERVICES = {
    "vault": ("twofold_vault", "VAULT", True),
    "auth": ("twofold_auth", "AUTH", True),
    "registration": ("twofold_registration", "REGISTRATION", True),
    "gateway": ("twofold_gateway", "GATEWAY", False),
}


class Balancer:
    """A Service in front of a service's replicas: balancer.py in a process of its own.

    Like a Service's endpoints, a replica that is being stopped is taken out (``remove``), but only after its
    SIGTERM, as the removal reaches kube-proxy after the kubelet signalled the pod: until then new
    connections still reach the draining replica.
    """

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.port = free_port()
        self._process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Balancer:
        self._process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("balancer.py")), str(self.port), *map(str, self.ports)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self._process.stdout is not None and self._process.stdout.readline().strip() == "ready", \
            "balancer did not start"
        return self

    def remove(self, port: int) -> None:
        """No new connection goes to ``port`` (those open stay open)."""
        assert self._process is not None and self._process.stdin is not None
        self._process.stdin.write(f"remove {port}\n")
        self._process.stdin.flush()

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(10)


@dataclass
class Replicas:
    """Two processes of every service behind one balancer each, wired as a cluster would be."""

    create_database: Callable[[str], Awaitable[str]]
    log_dir: Path
    processes: dict[str, list[ServiceProcess]] = field(default_factory=dict)
    balancers: dict[str, Balancer] = field(default_factory=dict)
    env: dict[str, dict[str, str]] = field(default_factory=dict)

    async def start(self, kafka_bootstrap: str) -> None:
        ports = {name: [free_port(), free_port()] for name in SERVICES}
        self.balancers = {name: Balancer(ports[name]).start() for name in SERVICES}
        url = {name: balancer.url for name, balancer in self.balancers.items()}
        wiring = {"AUTH_URL": url["auth"], "VAULT_URL": url["vault"], "REGISTRATION_URL": url["registration"],
                  "CALLBACK_URL": f"{url['gateway']}/api/auth/totp-callback"}
        extra = {
            # the person's traffic all comes from 127.0.0.1: lift the per-ip limit of open routes
            "gateway": {"GATEWAY_OPEN_RATE_PER_SECOND": "100000", "GATEWAY_OPEN_BURST": "100000",
                        "GATEWAY_UPSTREAM_READ_TIMEOUT": "30"},
        }
        for name, (_, prefix, has_database) in SERVICES.items():
            env = {f"{prefix}_KAFKA_BOOTSTRAP": kafka_bootstrap,
                   # one group per service: the replicas share the partitions
                   f"{prefix}_CONSUMER_GROUP": f"replicas-{name}-{uuid.uuid4().hex[:8]}",
                   # migrations run once, before the replicas start (Kubernetes: the migration Job)
                   f"{prefix}_MIGRATE_ON_START": "false",
                   **{f"{prefix}_{key}": value for key, value in wiring.items()},
                   **extra.get(name, {})}
            if has_database:
                env[f"{prefix}_DATABASE_URL"] = await self.create_database(name)
            self.env[name] = env
        await asyncio.gather(*(asyncio.to_thread(self._migrate, name) for name, spec in SERVICES.items() if spec[2]))
        for name, (module, prefix, _) in SERVICES.items():
            self.processes[name] = [
                ServiceProcess(f"{name}-{i}", module, {**self.env[name], f"{prefix}_PORT": str(port)}, port,
                               self.log_dir).start(wait=False)
                for i, port in enumerate(ports[name])
            ]
        for name in SERVICES:
            for process in self.processes[name]:
                await asyncio.to_thread(process.wait_healthy, 90, "/readyz")

    def _migrate(self, name: str) -> None:
        done = subprocess.run([sys.executable, "-m", SERVICES[name][0], "migrate"],
                              env={**os.environ, **self.env[name]}, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{name} migrate failed:\n{done.stderr[-3000:]}"

    async def sql(self, name: str, query: str, *args) -> list[asyncpg.Record]:
        prefix = SERVICES[name][1]
        conn = await asyncpg.connect(to_libpq_url(self.env[name][f"{prefix}_DATABASE_URL"]))
        try:
            return await conn.fetch(query, *args)
        finally:
            await conn.close()

    def stop(self) -> None:
        stop_all([process for name in reversed(SERVICES) for process in self.processes.get(name, [])])
        for balancer in self.balancers.values():
            balancer.stop()


@dataclass
class Load:
    """The people's side: what was answered, what had to be retried."""

    api: httpx.AsyncClient
    provider: SimpleTotp
    completed: int = 0
    failures: Counter = field(default_factory=Counter)
    progress: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def call(self, step: str, method: str, url: str, **kwargs) -> httpx.Response:
        """Send once and return the answer. A 5xx or no answer at all is a failure the test counts (and
        asserts there were none); the person then tries again, as a browser would, so that one failure
        does not hide what the rest of the run shows."""
        for attempt in range(8):
            try:
                answer = await self.api.request(method, url, **kwargs)
                if answer.status_code < 500:
                    return answer
                self.failures[f"{step}: {answer.status_code}"] += 1
            except httpx.TransportError as exc:
                self.failures[f"{step}: {type(exc).__name__}"] += 1
            await asyncio.sleep(0.2 * (attempt + 1))
        raise AssertionError(f"{step} never answered")

    async def person(self, i: int) -> str:
        """One person's registration through the gateways; returns their email once the callback was answered."""
        email = f"replica-{i}-{uuid.uuid4().hex[:8]}@example.com"
        registered = await self.call("register", "POST", "/api/auth/register",
                                     json={"email": email, "password": PASSWORD})
        if registered.status_code == 409:  # an earlier try created the account, its answer was lost
            registered = await self.call("login", "POST", "/api/auth/login",
                                         json={"email": email, "password": PASSWORD})
            assert registered.json()["status"] == "2fa_setup_required", registered.text
        else:
            assert registered.status_code == 201, registered.text
        setup_token = registered.json()["setupToken"]
        started = await self.call("setup", "POST", "/api/auth/setup-2fa", json={},
                                  headers={"Authorization": f"Bearer {setup_token}"})
        assert started.status_code == 201, started.text
        body = started.json()
        for _ in range(5):
            callback, _enrollment = self.provider.accept(body["deepLink"])
            answer = await self.call("callback", "GET", callback)
            if answer.status_code == 200:
                break
            # 409: an earlier try completed it and its answer was lost; 400: the code aged while retrying
            assert answer.status_code in (400, 409), answer.text
            if answer.status_code == 409:
                break
        else:
            raise AssertionError("callback never completed")
        async with self.progress:
            self.completed += 1
            self.progress.notify_all()
        return email

    async def reached(self, count: int) -> None:
        async with self.progress:
            await self.progress.wait_for(lambda: self.completed >= count)


@pytest.fixture
async def replicas(infra, create_database, log_dir):
    if not infra.controllable:
        pytest.skip("needs the native stack (two processes per service on this machine)")
    cluster = Replicas(create_database, log_dir)
    try:
        await cluster.start(infra.kafka_bootstrap)
        yield cluster
    finally:
        cluster.stop()


@pytest.mark.timeout(280)
async def test_two_replicas_of_each_service_apply_200_concurrent_registrations_once_through_sigterms(replicas) -> None:
    started = time.monotonic()
    # like the services' own clients, the people keep an idle connection for less than a replica drains
    limits = httpx.Limits(max_connections=PEOPLE, max_keepalive_connections=20,
                          keepalive_expiry=KEEPALIVE_EXPIRY_SECONDS)
    async with httpx.AsyncClient(base_url=replicas.balancers["gateway"].url, timeout=60, limits=limits) as api:
        load = Load(api, SimpleTotp())

        async def terminate(fraction: float, name: str) -> tuple[str, int | None, float]:
            await load.reached(int(PEOPLE * fraction))
            victim = replicas.processes[name][0]
            begun = time.monotonic()
            stopping = asyncio.create_task(asyncio.to_thread(victim.stop, signal.SIGTERM, 60))
            await asyncio.sleep(ENDPOINT_REMOVAL_SECONDS)
            replicas.balancers[name].remove(victim.port)
            code = await stopping
            return victim.name, code, time.monotonic() - begun

        killer = asyncio.gather(*(terminate(fraction, name) for fraction, name in SIGTERMS))
        try:
            emails = await asyncio.gather(*(load.person(i) for i in range(PEOPLE)))
        except BaseException:
            killer.cancel()
            await asyncio.gather(killer, return_exceptions=True)
            raise
        stopped = await killer
    load_seconds = time.monotonic() - started
    # every request was answered, and none with a 5xx, through four graceful stops (draining.py)
    assert not load.failures, f"answers that failed: {dict(load.failures)}"

    for name, code, seconds in stopped:
        # uvicorn re-raises the SIGTERM it handled once shutdown is complete: -15 is a clean exit too
        assert code in (0, -signal.SIGTERM), f"{name} exited with {code} after SIGTERM"
        assert seconds < 30, f"{name} took {seconds:.1f}s to stop"
        logs = replicas.processes[name.rsplit("-", 1)[0]][0].logs()
        assert '"service stopped"' in logs and "Traceback" not in logs, f"{name} did not stop gracefully"

    users = await eventually(lambda: _active_users(replicas, emails), timeout=90)
    user_ids = {str(row["id"]) for row in users}
    assert len(user_ids) == PEOPLE

    # registration: one completion per person, every outbox row sent
    completions = await replicas.sql(
        "registration", "SELECT event_id, key FROM outbox_events WHERE event_type = $1", RegistrationCompleted.type)
    assert sorted(str(r["key"]) for r in completions) == sorted(user_ids)
    assert await eventually(lambda: _all_published(replicas, "registration"))
    completed = await replicas.sql("registration", "SELECT user_id, count(*) AS n FROM registrations "
                                                   "WHERE status = 'completed' GROUP BY user_id")
    assert {str(r["user_id"]) for r in completed} == user_ids and {r["n"] for r in completed} == {1}

    # Kafka: each completion was sent once (a graceful stop never sends a batch twice)
    completion_ids = {str(r["event_id"]) for r in completions}
    sent = await _event_ids_on_topic(replicas.env["registration"]["REGISTRATION_KAFKA_BOOTSTRAP"], REGISTRATION_TOPIC,
                                     completion_ids)
    assert Counter(sent) == Counter(completion_ids)

    # auth: each completion handled once (the topic also holds earlier tests' events), each user enabled once
    handled = [r for r in await replicas.sql("auth", "SELECT event_id, outcome FROM processed_events "
                                                      "WHERE event_type = $1", RegistrationCompleted.type)
               if str(r["event_id"]) in completion_ids]
    assert sorted(str(r["event_id"]) for r in handled) == sorted(completion_ids)
    assert {r["outcome"] for r in handled} == {"handled"}
    enabled = await replicas.sql("auth", "SELECT key FROM outbox_events WHERE event_type = $1", TwoFactorEnabled.type)
    assert sorted(r["key"] for r in enabled) == sorted(user_ids)

    # vault: one seed per person
    seeds = await replicas.sql("vault", "SELECT subject, status FROM seeds")
    assert sorted(r["subject"] for r in seeds) == sorted(user_ids)
    assert {r["status"] for r in seeds} == {"active"}
    stored = await replicas.sql("vault", "SELECT key FROM outbox_events WHERE event_type = $1", SeedStored.type)
    assert sorted(r["key"] for r in stored) == sorted(user_ids)
    for name in ("auth", "vault"):
        assert await eventually(lambda n=name: _all_published(replicas, n))

    print(f"\n{PEOPLE} registrations on 2 replicas per service in {load_seconds:.1f}s; "
          f"stopped {[(n, c, round(s, 1)) for n, c, s in stopped]}")


async def _active_users(replicas: Replicas, emails: list[str]) -> list[asyncpg.Record]:
    rows = await replicas.sql("auth", "SELECT id, status, totp_enabled FROM users WHERE email = ANY($1::text[])",
                              emails)
    done = [r for r in rows if r["status"] == "active" and r["totp_enabled"]]
    return rows if len(rows) == len(emails) == len(done) else []


async def _all_published(replicas: Replicas, name: str) -> bool:
    rows = await replicas.sql(name, "SELECT count(*) AS n FROM outbox_events WHERE published_at IS NULL")
    return rows[0]["n"] == 0


async def _event_ids_on_topic(bootstrap: str, topic: str, wanted: set[str]) -> list[str]:
    """Every id of ``wanted`` found on ``topic``, as often as it was sent."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        async def assigned() -> list[TopicPartition]:
            await consumer.getmany(timeout_ms=200)  # lets the assignment of every partition happen
            return list(consumer.assignment())

        partitions = await eventually(assigned, timeout=30)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        found: list[str] = []
        while [tp for tp in partitions if await consumer.position(tp) < end[tp]]:
            batches = await consumer.getmany(*partitions, timeout_ms=1000, max_records=1000)
            for records in batches.values():
                for record in records:
                    with contextlib.suppress(ValueError, KeyError, TypeError):
                        event_id = json.loads(record.value)["id"]
                        if event_id in wanted:
                            found.append(event_id)
        return found
    finally:
        await consumer.stop()
