"""Kafka clients configured the one way every service uses them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import TopicAlreadyExistsError

from .events import COMPACTED_TOPICS

log = logging.getLogger(__name__)


def dead_letter_topic(service: str) -> str:
    return f"twofold.{service}.dlq"


class ProducerHolder:
    """An idempotent ``acks=all`` producer, started on first use and restarted after a failed start.

    Services start while the broker may be away; nothing here blocks start-up.
    """

    def __init__(self, bootstrap: str, client_id: str, *, request_timeout_ms: int = 10_000) -> None:
        self.bootstrap = bootstrap
        self.client_id = client_id
        self.request_timeout_ms = request_timeout_ms
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self.bootstrap,
                    client_id=self.client_id,
                    enable_idempotence=True,
                    acks="all",
                    linger_ms=0,
                    request_timeout_ms=self.request_timeout_ms,
                )
                try:
                    await producer.start()
                except BaseException:
                    await producer.stop()
                    raise
                self._producer = producer
            return self._producer

    async def stop(self) -> None:
        async with self._lock:
            if self._producer is not None:
                await self._producer.stop()
                self._producer = None


async def ensure_topics(bootstrap: str, topics: Iterable[str], *, partitions: int, replication: int,
                        retention_hours: float) -> None:
    """Create missing topics (the broker does not auto-create: a typo must not invent a topic), keeping records
    ``retention_hours``: a consumer group that starts from the beginning replays that much at most. A compacted
    topic (``COMPACTED_TOPICS``) keeps the latest record of each key instead."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in dict.fromkeys(topics) if t not in existing]
        if missing:
            try:
                await admin.create_topics(
                    [NewTopic(name=t, num_partitions=partitions, replication_factor=replication,
                              topic_configs=_configs(t, retention_hours)) for t in missing]
                )
            except TopicAlreadyExistsError:
                pass  # another replica created it first
            log.info("kafka topics created", extra={"topics": missing})
    finally:
        await admin.close()


def _configs(topic: str, retention_hours: float) -> dict[str, str]:
    if topic in COMPACTED_TOPICS:
        return {"cleanup.policy": "compact"}  # the latest event of each key, for good
    return {"retention.ms": str(int(retention_hours * 3_600_000))}


async def broker_reachable(bootstrap: str, timeout: float = 2.0) -> bool:
    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000))
    try:
        await asyncio.wait_for(client.bootstrap(), timeout)
        return True
    except Exception:
        return False
    finally:
        await client.close()
