"""Idempotent Kafka consumer with a dead-letter topic.

For each message: the handler's effect and the row recording the event id in
``processed_events`` commit in one transaction, and the Kafka offset is
committed only after that (once per batch of records).  The messages of one
fetch are handled in one such transaction; when it fails, each is handled in
a transaction of its own.  A redelivered event finds its id already recorded
and has no second effect.  A message that cannot be decoded, or whose handler
keeps failing, is sent to the consumer's dead-letter topic with the error and
recorded, so the partition keeps moving.  Failures of the infrastructure (the
database or the broker away) are not the message's fault: those are retried
until the infrastructure returns, from the last committed offset.

With tracing on, each event this service handles is a ``process <topic>`` span in the event's trace
(``tracing.py``): a child of the relay's send when the message names it, else of the event's own context.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from opentelemetry.trace import INVALID_SPAN, Span, SpanKind
from prometheus_client import Counter
from pydantic import ValidationError
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from .db import Database
from .events import CloudEvent, Event
from .kafka import ProducerHolder
from .logging import reset_request_id, set_request_id
from .tables import processed_events
from .tracing import TRACE_FIELDS, Tracing, context_of, failed, messaging_attributes

log = logging.getLogger(__name__)

# The event is an instance of the class the handler is registered under; a mapping's type cannot say so.
Handler = Callable[[AsyncSession, Any, CloudEvent], Awaitable[None]]


class PoisonMessage(Exception):
    """A handler's way to say: retrying will not help, dead-letter this event."""


_INFRASTRUCTURE_ERRORS = (
    OSError,
    TimeoutError,
    KafkaError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    sa_exc.InterfaceError,
    sa_exc.OperationalError,
)


def _is_infrastructure_failure(exc: BaseException) -> bool:
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, _INFRASTRUCTURE_ERRORS) or isinstance(exc.__cause__, _INFRASTRUCTURE_ERRORS)


class EventConsumer:
    def __init__(
        self,
        db: Database,
        producer: ProducerHolder,
        *,
        bootstrap: str,
        group_id: str,
        dead_letter_topic: str,
        handlers: Mapping[type[Event], Handler],
        max_attempts: int = 3,
        retry_delay: float = 0.2,
        dead_letters: Counter | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self.db = db
        self.producer = producer
        self.bootstrap = bootstrap
        self.group_id = group_id
        self.handlers = {cls.type: (cls, handler) for cls, handler in handlers.items()}
        self.topics = sorted({cls.topic for cls in handlers})
        self.dead_letter_topic = dead_letter_topic
        self.max_attempts = max_attempts
        self.retry_delay = retry_delay
        self.dead_letters = dead_letters  # by group and event type (metrics.Metrics.dead_letters)
        self.tracing = tracing
        if dead_letters is not None:
            for event_type in (*self.handlers, "undecodable"):
                dead_letters.labels(group_id, event_type)  # from 0: the first dead letter is an increase too
        self._stopping = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None

    async def run(self) -> None:
        backoff = 0.5
        while not self._stopping.is_set():
            # A new group starts at each topic's beginning: a service deployed after its producers misses
            # nothing, and what it replays is bounded by the topics' retention (docs/operations.md, Scaling).
            consumer = AIOKafkaConsumer(*self.topics, bootstrap_servers=self.bootstrap, group_id=self.group_id,
                                        enable_auto_commit=False, auto_offset_reset="earliest",
                                        metadata_max_age_ms=5_000)
            try:
                await consumer.start()
                self._consumer = consumer
                backoff = 0.5
                while not self._stopping.is_set():
                    await self._process_batch(consumer, await consumer.getmany(timeout_ms=500, max_records=100))
            except Exception as exc:
                log.warning("consumer interrupted, resuming from the last committed offset",
                            extra={"group": self.group_id, "error": repr(exc), "retry_in": backoff})
                try:
                    await asyncio.wait_for(self._stopping.wait(), backoff)
                except TimeoutError:
                    pass
                backoff = min(backoff * 2, 15.0)
            finally:
                self._consumer = None
                await consumer.stop()

    def stop(self) -> None:
        self._stopping.set()

    async def lag(self) -> dict[str, int]:
        """Per topic, the events between this consumer's positions and the ends of the partitions it holds (what
        it has not fetched yet); a partition whose position or end it does not know yet is left out."""
        consumer = self._consumer
        behind: dict[str, int] = {}
        if consumer is None:
            return behind
        for tp in consumer.assignment():
            try:
                end = consumer.highwater(tp)
                position = await asyncio.wait_for(consumer.position(tp), 0.5)
            except Exception:  # a rebalance took it, or its position is being reset
                continue
            if end is not None:
                behind[tp.topic] = behind.get(tp.topic, 0) + max(0, end - position)
        return behind

    async def _process_batch(self, consumer: AIOKafkaConsumer,
                             batches: Mapping[TopicPartition, list[ConsumerRecord]]) -> None:
        """The records of one fetch, then one offset commit (not a round trip to the broker per record).

        Several records are first handled together, in one transaction (``_process_together``); when that
        fails, nothing of it stays and each record is handled alone, in order, with its own retries, so a
        poison message is dead-lettered alone.  Records handled before a failure or a stop are committed
        too; a record handled but not committed is delivered again and skipped by its id
        (``processed_events``)."""
        if sum(map(len, batches.values())) > 1 and await self._process_together(batches):
            await consumer.commit({tp: records[-1].offset + 1 for tp, records in batches.items() if records})
            return
        done: dict[TopicPartition, int] = {}
        try:
            for tp, records in batches.items():
                for record in records:
                    if self._stopping.is_set():
                        break
                    await self._process(record)
                    done[tp] = record.offset + 1
        except BaseException:
            if done:
                with contextlib.suppress(Exception):  # the broker may be what failed
                    await consumer.commit(done)
            raise
        if done:
            await consumer.commit(done)

    async def _process_together(self, batches: Mapping[TopicPartition, list[ConsumerRecord]]) -> bool:
        """Handle every record of the fetch in one transaction, each partition's in offset order; False when any
        of them failed (undecodable, poison, or a handler's error), with nothing written.

        Under load, a transaction per event queued each event behind the commits of the ones before it;
        one commit for the fetch lets a burst (or a backlog after an outage) through at once.  The unit of
        idempotency stays the event: each is recorded in ``processed_events`` before its effect, and one
        already recorded, even earlier in this same fetch, has no second effect."""
        if self._stopping.is_set():
            return False
        try:
            async with self.db.transaction() as session:
                for records in batches.values():
                    for record in records:
                        envelope = CloudEvent.model_validate_json(record.value or b"")
                        entry = self.handlers.get(envelope.type)
                        if entry is None:
                            continue  # another service's event on a shared topic
                        event_class, handler = entry
                        token = set_request_id(_header(record, "x-request-id"))
                        try:
                            with self._span(record, envelope):
                                if await self._record(session, envelope, "handled"):
                                    await handler(session, event_class.model_validate(envelope.data), envelope)
                        finally:
                            reset_request_id(token)
            return True
        except Exception as exc:
            if _is_infrastructure_failure(exc):
                raise
            log.info("a fetch's events failed together; handling each alone",
                     extra={"group": self.group_id, "events": sum(map(len, batches.values())), "error": repr(exc)})
            return False

    async def _process(self, record: ConsumerRecord) -> None:
        try:
            envelope = CloudEvent.model_validate_json(record.value or b"")
        except ValidationError as exc:
            await self._dead_letter(record, None, f"undecodable event: {exc.error_count()} errors")
            return
        entry = self.handlers.get(envelope.type)
        if entry is None:
            return  # another service's event on a shared topic
        event_class, handler = entry
        token = set_request_id(_header(record, "x-request-id"))
        try:
            with self._span(record, envelope) as span:
                error = await self._handle_with_retries(envelope, event_class, handler)
                if error is not None:
                    failed(span, "dead-lettered")
                    await self._dead_letter(record, envelope, error)
        finally:
            reset_request_id(token)

    @contextlib.contextmanager
    def _span(self, record: ConsumerRecord, envelope: CloudEvent) -> Iterator[Span]:
        """The handling of one event, current while it runs (what its handler calls or publishes joins it)."""
        if self.tracing is None:
            yield INVALID_SPAN
            return
        attributes = {**messaging_attributes("process", record.topic, str(envelope.id), envelope.type),
                      "messaging.consumer.group.name": self.group_id,
                      "messaging.destination.partition.id": str(record.partition),
                      "messaging.kafka.offset": record.offset}
        with self.tracing.tracer.start_as_current_span(
                f"process {record.topic}", context=context_of(_trace_fields(record, envelope)),
                kind=SpanKind.CONSUMER, attributes=attributes, record_exception=False,
                set_status_on_exception=False) as span:
            try:
                yield span
            except BaseException as exc:
                failed(span, exc)
                raise

    async def _handle_with_retries(
        self, envelope: CloudEvent, event_class: type[Event], handler: Handler
    ) -> str | None:
        """Return None when handled (now or before), or the error that makes it poison."""
        for attempt in range(1, self.max_attempts + 1):
            try:
                async with self.db.transaction() as session:
                    if not await self._record(session, envelope, "handled"):
                        return None  # already handled: redelivery has no second effect
                    await handler(session, event_class.model_validate(envelope.data), envelope)
                return None
            except (ValidationError, PoisonMessage) as exc:
                return f"{type(exc).__name__}: {exc}"
            except Exception as exc:
                if _is_infrastructure_failure(exc):
                    raise
                log.warning("event handler failed", extra={"event_type": envelope.type, "event_id": str(envelope.id),
                                                           "attempt": attempt, "error": repr(exc)})
                if attempt == self.max_attempts:
                    return f"{type(exc).__name__}: {exc}"
                await asyncio.sleep(self.retry_delay * attempt)
        return None

    async def _record(self, session: AsyncSession, envelope: CloudEvent, outcome: str) -> bool:
        result = await session.execute(
            insert(processed_events)
            .values(consumer=self.group_id, event_id=envelope.id, event_type=envelope.type, outcome=outcome)
            .on_conflict_do_nothing()
            .returning(processed_events.c.event_id)
        )
        return result.first() is not None

    async def _dead_letter(self, record: ConsumerRecord, envelope: CloudEvent | None, error: str) -> None:
        headers = list(record.headers or ()) + [
            ("dlq-error", error[:2000].encode()),
            ("dlq-source", f"{record.topic}/{record.partition}/{record.offset}".encode()),
            ("dlq-consumer", self.group_id.encode()),
        ]
        producer = await self.producer.get()
        await producer.send_and_wait(self.dead_letter_topic, value=record.value, key=record.key, headers=headers)
        if self.dead_letters is not None:
            self.dead_letters.labels(self.group_id, envelope.type if envelope else "undecodable").inc()
        if envelope is not None:
            async with self.db.transaction() as session:
                await self._record(session, envelope, "dead_lettered")
        log.error("event dead-lettered", extra={"topic": record.topic, "partition": record.partition,
                                                "offset": record.offset, "error": error})


def _trace_fields(record: ConsumerRecord, envelope: CloudEvent) -> dict[str, str]:
    """The relay's send when the message's headers name it, else the context the event was written in."""
    sources = ({name: _header(record, name) for name in TRACE_FIELDS},
               {name: getattr(envelope, name) for name in TRACE_FIELDS})
    for fields in sources:
        if fields["traceparent"]:
            return {name: value for name, value in fields.items() if value}
    return {}


def _header(record: ConsumerRecord, name: str) -> str | None:
    for key, value in record.headers or ():
        if key == name:
            return value.decode(errors="replace")
    return None


