"""Every event of some types, on every replica: a Kafka reader without a consumer group.

The event consumer (``consumer.py``) shares a topic's partitions among the
replicas of a service and each event is handled once.  Some state must instead
be known by every replica, such as the gateway's list of revoked sessions: a
broadcast listener reads all partitions itself, commits nothing, and on start
goes back ``lookback_seconds`` (by message timestamp) so a fresh replica knows
what happened recently, or to the beginning (None) of a compacted topic, whose
latest event of each key is the present state.  Handlers update in-memory
state; they must tolerate seeing an event twice (a reconnect may re-read the
last batch).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.client import AIOKafkaClient
from pydantic import ValidationError

from twofold_common.events import CloudEvent, Event

log = logging.getLogger(__name__)

TOPIC_POLL_SECONDS = 1.0
# The event is an instance of the class the handler is registered under (see consumer.Handler).
BroadcastHandler = Callable[[Any, CloudEvent], Awaitable[None]]


class _TopicsMissing(Exception):
    """The topics do not exist yet (their producer has not started): retry later."""


class BroadcastListener:
    def __init__(
        self,
        bootstrap: str,
        handlers: Mapping[type[Event], BroadcastHandler],
        *,
        lookback_seconds: float | None,
        client_id: str = "twofold-broadcast",
    ) -> None:
        self.bootstrap = bootstrap
        self.handlers = {cls.type: (cls, handler) for cls, handler in handlers.items()}
        self.topics = sorted({cls.topic for cls in handlers})
        self.lookback_seconds = lookback_seconds
        self.client_id = client_id
        # Where to go on after a reconnect; partitions never read start from the lookback.
        self._positions: dict[TopicPartition, int] = {}

    async def run(self, stopping: asyncio.Event) -> None:
        """Read until ``stopping`` is set, reconnecting (with backoff) while the broker is away."""
        backoff = 0.5
        while not stopping.is_set():
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap,
                client_id=self.client_id,
                group_id=None,
                enable_auto_commit=False,
                # a position lost to retention: re-reading is harmless, skipping is not
                auto_offset_reset="earliest",
            )
            try:
                await consumer.start()
                await self._assign(consumer)
                backoff = 0.5
                while not stopping.is_set():
                    batches = await consumer.getmany(timeout_ms=500, max_records=500)
                    for tp, records in batches.items():
                        for record in records:
                            await self._dispatch(record)
                        self._positions[tp] = records[-1].offset + 1
            except Exception as exc:
                # Missing topics are not an outage: their producer creates them soon, look again shortly.
                delay = TOPIC_POLL_SECONDS if isinstance(exc, _TopicsMissing) else backoff
                log.warning("broadcast listener interrupted", extra={"topics": self.topics, "error": repr(exc),
                                                                     "retry_in": delay})
                try:
                    await asyncio.wait_for(stopping.wait(), delay)
                except TimeoutError:
                    pass
                if not isinstance(exc, _TopicsMissing):
                    backoff = min(backoff * 2, 15.0)
            finally:
                await consumer.stop()

    async def _partitions(self) -> list[TopicPartition]:
        # The consumer only caches metadata of topics it already reads; ask the cluster directly.
        client = AIOKafkaClient(bootstrap_servers=self.bootstrap, client_id=self.client_id)
        try:
            await client.bootstrap()
            cluster = await client.fetch_all_metadata()
        finally:
            await client.close()
        partitions = []
        for topic in self.topics:
            numbers = cluster.partitions_for_topic(topic)
            if not numbers:
                raise _TopicsMissing(topic)
            partitions += [TopicPartition(topic, n) for n in sorted(numbers)]
        return partitions

    async def _assign(self, consumer: AIOKafkaConsumer) -> None:
        partitions = await self._partitions()
        consumer.assign(partitions)
        fresh = [tp for tp in partitions if tp not in self._positions]
        starts = dict(self._positions)
        lookback = self.lookback_seconds
        if fresh and lookback is None:
            starts.update(await consumer.beginning_offsets(fresh))
        elif fresh and lookback is not None:
            # The end offsets are read first: an event written between the two
            # calls has an offset at or past them, so it is read, not skipped.
            ends = await consumer.end_offsets(fresh)
            since_ms = int((time.time() - lookback) * 1000)
            found = await consumer.offsets_for_times({tp: since_ms for tp in fresh})
            for tp in fresh:
                starts[tp] = found[tp].offset if found.get(tp) is not None else ends[tp]
        for tp in partitions:
            consumer.seek(tp, starts[tp])

    async def _dispatch(self, record: ConsumerRecord) -> None:
        try:
            envelope = CloudEvent.model_validate_json(record.value or b"")
        except ValidationError:
            log.warning("undecodable event skipped", extra={"topic": record.topic, "partition": record.partition,
                                                            "offset": record.offset})
            return
        entry = self.handlers.get(envelope.type)
        if entry is None:
            return  # other event types share the topic
        event_class, handler = entry
        try:
            event = event_class.model_validate(envelope.data)
        except ValidationError as exc:
            # where and why, not the values: an event's data may hold what no log may (a key's verifier)
            log.error("invalid event skipped", extra={"event_type": envelope.type, "event_id": str(envelope.id),
                                                      "error": str(exc.errors(include_input=False, include_url=False))})
            return
        try:
            await handler(event, envelope)
        except Exception as exc:
            # A broadcast keeps a cache; one bad event must not stop the others from arriving.
            log.error("broadcast handler failed", extra={"event_type": envelope.type, "event_id": str(envelope.id),
                                                         "error": repr(exc)})
