"""The bounds each figure is set beside, measured in the same run: what one argon2id hash costs, one PostgreSQL
and one Kafka round trip, and what the least request through our web stack costs, with one hop and with two
(bench/hop.py)."""

from __future__ import annotations

import os
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from argon2 import PasswordHasher
from figures import quantile, rounded
from settings import PASSWORD, ROOT

from twofold_auth.settings import AuthSettings
from twofold_common.db import to_libpq_url
from twofold_common.kafka import ensure_topics
from twofold_common.testing.infra import Infra
from twofold_common.testing.processes import ServiceProcess, free_port, stop_all


def argon2_bound(samples: int) -> dict:
    settings = AuthSettings()
    hasher = PasswordHasher(time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_kib,
                            parallelism=settings.argon2_parallelism)
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        hasher.hash(PASSWORD)
        times.append(time.perf_counter() - started)
    median = statistics.median(times)
    cores = os.cpu_count() or 1
    return {"parameters": {"timeCost": settings.argon2_time_cost, "memoryKiB": settings.argon2_memory_kib,
                           "parallelism": settings.argon2_parallelism},
            "medianMs": round(median * 1000, 2), "samples": samples, "cores": cores,
            "loginsPerSecondBound": round(cores / median, 1)}


async def postgres_bound(infra: Infra, samples: int) -> dict:
    connection = await asyncpg.connect(to_libpq_url(infra.pg_admin_url))
    try:
        if await connection.fetchval("SHOW track_commit_timestamp") != "on":
            sys.exit("bench: PostgreSQL runs without track_commit_timestamp (it was started before infra.sh set it): "
                     "restart it with `./stack down && ./stack up` or `deploy/native/infra.sh stop` + `start`")
        statement = await connection.prepare("SELECT 1")
        times = []
        for _ in range(samples):
            started = time.perf_counter()
            await statement.fetchval()
            times.append((time.perf_counter() - started) * 1000)
    finally:
        await connection.close()
    return {"query": "SELECT 1 (prepared, asyncpg)", "samples": samples,
            "p50Ms": rounded(quantile(times, 0.5), 3), "p99Ms": rounded(quantile(times, 0.99), 3)}


async def kafka_bound(infra: Infra, samples: int) -> dict:
    """One message produced with acks=all and received by a consumer that is already polling."""
    topic = f"bench-roundtrip-{uuid.uuid4().hex[:8]}"
    await ensure_topics(infra.kafka_bootstrap, [topic], partitions=1, replication=1, retention_hours=168)
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all", linger_ms=0)
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=infra.kafka_bootstrap, auto_offset_reset="earliest",
                                fetch_max_wait_ms=500)
    await producer.start()
    await producer.send_and_wait(topic, b"warm-up")
    await consumer.start()
    await consumer.getone()
    times = []
    try:
        for _ in range(samples):
            started = time.perf_counter()
            await producer.send_and_wait(topic, b"x")
            await consumer.getone()
            times.append((time.perf_counter() - started) * 1000)
    finally:
        await consumer.stop()
        await producer.stop()
    return {"path": "produce (acks=all) -> consumer poll, aiokafka", "samples": samples,
            "p50Ms": rounded(quantile(times, 0.5)), "p99Ms": rounded(quantile(times, 0.99))}


class HopServices:
    """The bench's hop service twice: ``oneHop`` commits, ``twoHops`` relays to it. Started beside the services
    under test (they boot together), measured once all are up, stopped before the scenarios."""

    def __init__(self, log_dir: Path) -> None:
        ports = {"commit": free_port(), "relay": free_port()}
        self.commit, self.relay = (
            ServiceProcess(f"hop-{name}", str(ROOT / "bench" / "hop.py"),
                           {"BENCH_HOP_PORT": str(ports[name]), "BENCH_HOP_METRICS_PORT": str(free_port()),
                            "BENCH_HOP_SHUTDOWN_DRAIN_SECONDS": "0"}, ports[name], log_dir)
            for name in ("commit", "relay"))
        self.relay.env["BENCH_HOP_NEXT_URL"] = self.commit.url

    async def start(self, database: Callable[[str], Awaitable[str]]) -> None:
        self.commit.env["BENCH_HOP_DATABASE_URL"] = await database("hop")
        self.commit.start(wait=False)
        self.relay.start(wait=False)

    def ready(self) -> dict[str, tuple[str, str]]:
        """Once both answer: the URL and path of each bound."""
        self.commit.wait_healthy(path="/readyz")
        self.relay.wait_healthy()
        return {"oneHop": (self.commit.url, "/commit"), "twoHops": (self.relay.url, "/relay")}

    def stop(self) -> None:
        stop_all([self.relay, self.commit])
