"""Reading a topic as an observer: every record it holds now, and the events among them.

A topic is shared by every test and holds whatever anyone sent, records the consumers dead-letter as designed
(not UTF-8, not JSON) included: a reader takes the events it can decode and passes over the rest.
"""

from __future__ import annotations

import json
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient


async def partitions_of(bootstrap: str, topic: str) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    assert described["error_code"] == 0 and described["partitions"], f"no topic {topic}: {described}"
    return [TopicPartition(topic, p) for p in sorted(part["partition"] for part in described["partitions"])]


async def records_until_now(bootstrap: str, topic: str, timeout: float = 60.0) -> list[ConsumerRecord]:
    """Every record of ``topic`` from its beginning to the end each partition has when this is called."""
    partitions = await partitions_of(bootstrap, topic)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        for tp, first in (await consumer.beginning_offsets(partitions)).items():
            consumer.seek(tp, first)  # explicit: seek_to_beginning can lose to the assignment's own reset
        records: list[ConsumerRecord] = []
        deadline = time.monotonic() + timeout
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            assert time.monotonic() < deadline, f"{topic} not read to its end within {timeout}s"
            batches = await consumer.getmany(*partitions, timeout_ms=1000, max_records=1000)
            for tp, batch in batches.items():
                records += [record for record in batch if record.offset < ends[tp]]
        return records
    finally:
        await consumer.stop()


def events_in(records: list[ConsumerRecord]) -> list[tuple[ConsumerRecord, dict[str, Any]]]:
    """The records that are JSON events (an object with a ``type`` and a ``data`` object), with the event."""
    events = []
    for record in records:
        try:
            event = json.loads((record.value or b"").decode())
        except ValueError:  # not UTF-8 (UnicodeDecodeError is a ValueError), or not JSON
            continue
        if isinstance(event, dict) and isinstance(event.get("type"), str) and isinstance(event.get("data"), dict):
            events.append((record, event))
    return events
