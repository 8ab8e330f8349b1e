"""Broadcast listeners on a real broker: every listener hears every event, recent history included."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer

from twofold_common.events import CloudEvent, Event
from twofold_common.kafka import ensure_topics
from twofold_common.testing.infra import Infra
from twofold_common.testing.waiting import eventually
from twofold_gateway.broadcast import BroadcastListener


class Announced(Event):
    type = "test.broadcast.announced.v1"
    topic = f"twofold.test.broadcast.{uuid.uuid4().hex[:8]}"
    number: int

    def subject(self) -> str:
        return f"key-{self.number}"


class Heard:
    def __init__(self) -> None:
        self.numbers: list[int] = []

    async def on_announced(self, event: Announced, envelope: CloudEvent) -> None:
        self.numbers.append(event.number)


async def all_heard(replicas: list[Heard], numbers: set[int]) -> bool:
    return all(numbers <= set(heard.numbers) for heard in replicas)


@pytest.fixture
async def producer(infra: Infra) -> AsyncIterator[AIOKafkaProducer]:
    await ensure_topics(infra.kafka_bootstrap, [Announced.topic], partitions=3, replication=1, retention_hours=168)
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all")
    await producer.start()
    yield producer
    await producer.stop()


async def announce(producer: AIOKafkaProducer, number: int, *, age_seconds: float = 0) -> None:
    event = Announced(number=number)
    await producer.send_and_wait(Announced.topic, event.envelope("/test").model_dump_json().encode(),
                                 key=event.subject().encode(), timestamp_ms=int((time.time() - age_seconds) * 1000))


async def test_every_listener_hears_everything_since_its_lookback_and_across_an_outage(
    infra: Infra, producer: AIOKafkaProducer
) -> None:
    await announce(producer, 0, age_seconds=3600)  # older than the lookback: history a fresh replica skips
    await announce(producer, 1, age_seconds=60)
    await producer.send_and_wait(Announced.topic, b"not an event", key=b"key-1")
    # an event type nobody here listens to, on the same topic
    await producer.send_and_wait(Announced.topic, CloudEvent(
        id=uuid.uuid4(), source="/test", type="test.other.v1", time=datetime.now(UTC), data={}
    ).model_dump_json().encode())

    stopping = asyncio.Event()
    replicas = [Heard(), Heard()]
    listeners = [BroadcastListener(infra.kafka_bootstrap, {Announced: heard.on_announced}, lookback_seconds=600)
                 for heard in replicas]
    tasks = [asyncio.create_task(listener.run(stopping)) for listener in listeners]
    try:
        await eventually(lambda: all_heard(replicas, {1}), timeout=60)
        for number in range(2, 8):  # spread over the partitions by key
            await announce(producer, number)
        await eventually(lambda: all_heard(replicas, set(range(1, 8))), timeout=60)

        if infra.controllable:
            infra.stop_kafka()
            infra.start_kafka()
            await announce(producer, 8)
            await eventually(lambda: all_heard(replicas, {8}), timeout=120)
        for heard in replicas:
            assert 0 not in heard.numbers
            assert sorted(set(heard.numbers)) == list(range(1, 9 if infra.controllable else 8))
    finally:
        stopping.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)


async def test_a_listener_without_lookback_hears_the_topic_from_its_beginning(
    infra: Infra, producer: AIOKafkaProducer, caplog: pytest.LogCaptureFixture
) -> None:
    await announce(producer, 100, age_seconds=30 * 86_400)  # older than any lookback: a compacted topic's state
    # an event of the type that does not validate: skipped, and its values stay out of the log
    await producer.send_and_wait(Announced.topic, CloudEvent(
        id=uuid.uuid4(), source="/test", type=Announced.type, time=datetime.now(UTC), data={"number": "not-logged"}
    ).model_dump_json().encode())
    stopping = asyncio.Event()
    heard = Heard()
    task = asyncio.create_task(BroadcastListener(infra.kafka_bootstrap, {Announced: heard.on_announced},
                                                 lookback_seconds=None).run(stopping))
    try:
        await eventually(lambda: all_heard([heard], {100}), timeout=60)
        await announce(producer, 101)
        await eventually(lambda: all_heard([heard], {100, 101}), timeout=60)
        skipped = [r for r in caplog.records if r.getMessage() == "invalid event skipped"]
        assert skipped and all("not-logged" not in str(vars(r)) for r in caplog.records)
    finally:
        stopping.set()
        await asyncio.wait_for(task, 10)
