"""Events between two real service processes over real PostgreSQL and Kafka.

The producer and the consumer are separate OS processes built from
twofold_common (tests/eventapp.py); the test only talks HTTP to the producer
and reads the databases and topics as an observer.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from twofold_common.db import to_libpq_url
from twofold_common.kafka import dead_letter_topic
from twofold_common.testing.infra import Infra
from twofold_common.testing.metrics import scrape
from twofold_common.testing.processes import ServiceProcess, free_port
from twofold_common.testing.waiting import consumer_caught_up, eventually

EVENTAPP = str(Path(__file__).with_name("eventapp.py"))


class Pair:
    def __init__(self, producer: ServiceProcess, consumer: ServiceProcess, producer_db: str, consumer_db: str,
                 topic: str) -> None:
        self.producer, self.consumer = producer, consumer
        self.producer_db, self.consumer_db = producer_db, consumer_db
        self.topic = topic
        self.http = httpx.AsyncClient(base_url=producer.url, timeout=30)

    async def post(self, name: str, **extra) -> httpx.Response:
        return await self.http.post("/items", json={"name": name, **extra})

    async def deliveries(self) -> dict[str, int]:
        conn = await asyncpg.connect(to_libpq_url(self.consumer_db))
        try:
            if not await conn.fetchval("SELECT to_regclass('deliveries') IS NOT NULL"):
                return {}
            return {r["name"]: r["count"] for r in await conn.fetch("SELECT name, count FROM deliveries")}
        finally:
            await conn.close()

    async def first_deliveries(self) -> list[str]:
        conn = await asyncpg.connect(to_libpq_url(self.consumer_db))
        try:
            return [r["name"] for r in await conn.fetch("SELECT name FROM deliveries ORDER BY first")]
        finally:
            await conn.close()

    async def handling_transactions(self) -> int:
        """How many transactions the consumer's handled events committed in."""
        conn = await asyncpg.connect(to_libpq_url(self.consumer_db))
        try:
            return await conn.fetchval("SELECT count(DISTINCT xmin::text) FROM processed_events "
                                       "WHERE outcome = 'handled'")
        finally:
            await conn.close()

    async def backlog_while_the_consumer_is_away(self, names: list[str], group: str) -> None:
        """Events on the topic, all sent, while the consumer is stopped; started again, it fetches them at once."""
        self.consumer.stop()
        for name in names:
            assert (await self.post(name, group=group)).status_code == 201
        await eventually(lambda: _when(self.producer_sql(
            "SELECT count(*) AS n FROM outbox_events WHERE published_at IS NULL"), lambda r: r[0]["n"] == 0))
        self.consumer.start()

    async def metrics(self, process: ServiceProcess) -> dict[str, float]:
        return await scrape(f"http://127.0.0.1:{process.env['EVENTAPP_METRICS_PORT']}/metrics")

    async def producer_sql(self, query: str):
        conn = await asyncpg.connect(to_libpq_url(self.producer_db))
        try:
            return await conn.fetch(query)
        finally:
            await conn.close()


def _eventapp(role: str, database_url: str, env: dict[str, str], log_dir: Path) -> ServiceProcess:
    port = free_port()
    env = {**env, "EVENTAPP_ROLE": role, "EVENTAPP_DATABASE_URL": database_url, "EVENTAPP_PORT": str(port),
           "EVENTAPP_METRICS_PORT": str(free_port()),
           "EVENTAPP_SHUTDOWN_DRAIN_SECONDS": "0"}  # no caller's connection to drain
    return ServiceProcess(role, EVENTAPP, env, port, log_dir)


@pytest.fixture
async def pair(infra: Infra, create_database, log_dir: Path) -> AsyncIterator[Pair]:
    topic = f"twofold.test.items.{uuid.uuid4().hex[:8]}"
    producer_db, consumer_db = await create_database("producer"), await create_database("consumer")
    common = {"EVENTAPP_KAFKA_BOOTSTRAP": infra.kafka_bootstrap, "EVENTAPP_TOPIC": topic,
              "EVENTAPP_CONSUMER_GROUP": f"test-{topic}",
              "EVENTAPP_LOG_LEVEL": "INFO"}
    producer = _eventapp("producer", producer_db, common, log_dir)
    consumer = _eventapp("consumer", consumer_db, common, log_dir)
    producer.start()
    consumer.start()
    pair = Pair(producer, consumer, producer_db, consumer_db, topic)
    try:
        yield pair
    finally:
        await pair.http.aclose()
        consumer.stop()
        producer.stop()


async def test_each_committed_event_is_handled_once_and_a_rolled_back_one_never(pair: Pair, infra: Infra) -> None:
    names = [f"item-{i}" for i in range(20)]
    for i, name in enumerate(names):
        assert (await pair.post(name, group=f"user-{i % 4}")).status_code == 201
    rejected = await pair.post("rolled-back", rollback=True)
    assert rejected.status_code == 409
    assert rejected.headers["content-type"] == "application/problem+json"
    assert (await pair.post("sentinel")).status_code == 201

    delivered = await eventually(lambda: _when(pair.deliveries(), lambda d: len(d) >= 21))
    assert delivered == {name: 1 for name in [*names, "sentinel"]}
    outbox = await pair.producer_sql("SELECT payload, published_at FROM outbox_events")
    assert len(outbox) == 21 and all(row["published_at"] is not None for row in outbox)
    assert not any("rolled-back" in row["payload"] for row in outbox)

    # A relay that crashed after sending but before marking sends everything again:
    # the consumer sees every event twice and applies none of them twice.
    await pair.producer_sql("UPDATE outbox_events SET published_at = NULL")
    assert (await pair.post("after-resend")).status_code == 201
    await eventually(lambda: _when(pair.deliveries(), lambda d: "after-resend" in d))
    await eventually(lambda: _when(pair.producer_sql(
        "SELECT count(*) AS n FROM outbox_events WHERE published_at IS NULL"), lambda r: r[0]["n"] == 0))
    # every redelivered copy is on the topic now: once the consumer has passed them all, none had an effect
    await consumer_caught_up(infra.kafka_bootstrap, f"test-{pair.topic}", pair.topic)
    assert await pair.deliveries() == {name: 1 for name in [*names, "sentinel", "after-resend"]}


async def test_events_written_while_the_broker_is_down_all_arrive_once(pair: Pair, infra: Infra) -> None:
    infra.require_control("stops the broker")
    assert (await pair.post("before-outage")).status_code == 201
    await eventually(lambda: _when(pair.deliveries(), lambda d: "before-outage" in d))

    infra.stop_kafka()
    try:
        names = [f"during-outage-{i}" for i in range(10)]
        for name in names:
            started = time.monotonic()
            response = await pair.post(name, group=name)
            assert response.status_code == 201
            assert time.monotonic() - started < 5, "a request waited for the broker"
        pending = await pair.producer_sql("SELECT count(*) AS n FROM outbox_events WHERE published_at IS NULL")
        assert pending[0]["n"] == len(names)
        # what an operator's alert on the outbox sees meanwhile
        metrics = await pair.metrics(pair.producer)
        assert metrics["twofold_outbox_unpublished_events"] == len(names)
        assert metrics["twofold_outbox_oldest_unpublished_age_seconds"] > 0
    finally:
        infra.start_kafka()

    delivered = await eventually(lambda: _when(pair.deliveries(), lambda d: len(d) >= 11), timeout=120)
    assert delivered == {name: 1 for name in ["before-outage", *names]}
    metrics = await eventually(lambda: _when(pair.metrics(pair.producer),
                                             lambda m: m["twofold_outbox_unpublished_events"] == 0))
    assert metrics["twofold_outbox_oldest_unpublished_age_seconds"] == 0


async def test_poison_messages_go_to_the_dead_letter_topic_and_the_partition_moves_on(
    pair: Pair, infra: Infra
) -> None:
    group = "one-partition"  # same key, same partition: later messages must still be handled
    assert (await pair.post("poison-pill", group=group)).status_code == 201
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(pair.topic, value=b"{not json", key=group.encode())
    finally:
        await producer.stop()
    assert (await pair.post("after-poison", group=group)).status_code == 201

    delivered = await eventually(lambda: _when(pair.deliveries(), lambda d: "after-poison" in d))
    assert delivered == {"after-poison": 1}

    dead = await _read_dead_letters(infra.kafka_bootstrap, dead_letter_topic("eventapp"), pair.topic, 2)
    errors = sorted(headers["dlq-error"] for headers, _ in dead)
    assert errors[0].startswith("RuntimeError: this item cannot be handled")
    assert errors[1].startswith("undecodable event")
    assert {value for _, value in dead} >= {b"{not json"}
    # counted by the consumer, and it has caught up: nothing left behind on the topic
    group = f'group="test-{pair.topic}"'
    metrics = await eventually(lambda: _when(pair.metrics(pair.consumer), lambda m: m.get(
        f'twofold_consumer_lag_events{{{group},topic="{pair.topic}"}}') == 0))
    assert {key: value for key, value in metrics.items() if key.startswith("twofold_events_dead_lettered_total")} \
        == {f'twofold_events_dead_lettered_total{{event_type="test.item.created.v1",{group}}}': 1,
            f'twofold_events_dead_lettered_total{{event_type="undecodable",{group}}}': 1}


async def test_a_fetched_backlog_is_handled_in_one_transaction_once_each_in_order(pair: Pair, infra: Infra) -> None:
    names = [f"backlog-{i:02}" for i in range(30)]
    await pair.backlog_while_the_consumer_is_away(names, group="one-key")

    await eventually(lambda: _when(pair.deliveries(), lambda d: len(d) >= len(names)))
    assert await pair.deliveries() == {name: 1 for name in names}
    assert await pair.first_deliveries() == names
    assert await pair.handling_transactions() == 1


async def test_a_poison_message_in_a_fetched_batch_is_dead_lettered_alone_and_the_others_handled_once_in_order(
    pair: Pair, infra: Infra
) -> None:
    names = [f"batch-{i:02}" for i in range(12)]
    names[5] = "poison-in-batch"
    await pair.backlog_while_the_consumer_is_away(names, group="one-key")

    handled = [name for name in names if not name.startswith("poison")]
    await eventually(lambda: _when(pair.deliveries(), lambda d: len(d) >= len(handled)))
    dead = await _read_dead_letters(infra.kafka_bootstrap, dead_letter_topic("eventapp"), pair.topic, 1)
    assert dead[0][0]["dlq-error"].startswith("RuntimeError: this item cannot be handled")
    assert b"poison-in-batch" in dead[0][1]
    await consumer_caught_up(infra.kafka_bootstrap, f"test-{pair.topic}", pair.topic)
    assert await pair.deliveries() == {name: 1 for name in handled}
    assert await pair.first_deliveries() == handled


async def _when(awaitable, check):
    value = await awaitable
    return value if check(value) else None


async def _read_dead_letters(bootstrap: str, dlq: str, source_topic: str, expected: int, timeout: float = 60):
    consumer = AIOKafkaConsumer(dlq, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                group_id=None, enable_auto_commit=False)
    await consumer.start()
    found: list[tuple[dict[str, str], bytes]] = []
    try:
        deadline = time.monotonic() + timeout
        while len(found) < expected and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=1000)
            for records in batches.values():
                for record in records:
                    headers = {k: v.decode() for k, v in record.headers}
                    if headers.get("dlq-source", "").startswith(source_topic + "/"):
                        found.append((headers, record.value))
    finally:
        await consumer.stop()
    assert len(found) == expected, f"dead letters for {source_topic}: {found}"
    return found
