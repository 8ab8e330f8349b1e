"""Seed 003's failure, made impossible: stopping and starting the stack keeps every row and every event."""

from __future__ import annotations

import uuid

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from twofold_common.db import to_libpq_url
from twofold_common.kafka import ensure_topics
from twofold_common.testing.infra import Infra


async def test_rows_and_events_survive_a_stack_restart(infra: Infra, create_database) -> None:
    infra.require_control("restarts the stack")
    url = await create_database("persist")
    marker = uuid.uuid4().hex
    conn = await asyncpg.connect(to_libpq_url(url))
    try:
        await conn.execute("CREATE TABLE notes (body text NOT NULL)")
        await conn.execute("INSERT INTO notes VALUES ($1)", marker)
    finally:
        await conn.close()
    topic = f"twofold.test.persist.{marker[:8]}"
    await ensure_topics(infra.kafka_bootstrap, [topic], partitions=1, replication=1, retention_hours=168)
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, marker.encode())
    finally:
        await producer.stop()

    infra.restart()

    conn = await asyncpg.connect(to_libpq_url(url))
    try:
        assert await conn.fetchval("SELECT body FROM notes") == marker
    finally:
        await conn.close()
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=infra.kafka_bootstrap, auto_offset_reset="earliest",
                                group_id=None)
    await consumer.start()
    values: list[bytes] = []
    try:
        for _ in range(30):  # the first fetches after a restart may come back empty
            batches = await consumer.getmany(timeout_ms=1_000)
            values += [record.value for records in batches.values() for record in records]
            if values:
                break
    finally:
        await consumer.stop()
    assert values == [marker.encode()]
