"""Transactional outbox: events commit with the state change, a relay moves them to Kafka.

``publish`` writes the event row in the caller's transaction and asks
PostgreSQL to NOTIFY the relay on commit; a rolled-back transaction leaves
neither row nor notification.  The relay holds a transaction-scoped advisory
lock while it sends a batch, so with several replicas exactly one sends at a
time and events leave in commit order (per-user ordering holds).  A batch is
marked sent only after the broker acknowledged every message (``acks=all``);
a crash in between sends the batch again, which idempotent consumers absorb.

With tracing on, the event keeps the trace context of the request (or handled event) that wrote it, in its
envelope's Distributed Tracing extension and in the row's Kafka headers; the relay sends each event in a span
of that trace, and puts that span's context in the message's headers for the consumer (``tracing.py``).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import asyncpg
from opentelemetry.trace import Span, SpanKind, Tracer
from sqlalchemy import Row, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from .db import Database, to_libpq_url
from .events import CLOUDEVENTS_CONTENT_TYPE, Event
from .kafka import ProducerHolder
from .logging import current_request_id
from .tables import outbox_events
from .tracing import Tracing, context_of, failed, messaging_attributes, span_context_fields, trace_context

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "twofold_outbox"
RELAY_LOCK_ID = 7_424_001  # arbitrary, the same in every service database


async def publish(session: AsyncSession, event: Event, *, source: str) -> None:
    """Add ``event`` to the outbox in the session's transaction."""
    trace = trace_context()
    envelope = event.envelope(source, trace=trace)
    headers = {"content-type": CLOUDEVENTS_CONTENT_TYPE, "ce-type": event.type, **trace}
    if request_id := current_request_id():
        headers["x-request-id"] = request_id
    # the row and the notification in one statement: one round trip to the database, not two
    written = outbox_events.insert().values(
        event_id=envelope.id,
        event_type=event.type,
        topic=event.topic,
        key=envelope.subject,
        payload=envelope.model_dump_json(),
        headers=headers,
    ).returning(outbox_events.c.id).cte("written")
    await session.execute(select(func.pg_notify(NOTIFY_CHANNEL, "")).select_from(written))


async def backlog(db: Database) -> tuple[int, float]:
    """How many events wait to be published, and for how many seconds the oldest has (0 when none waits)."""
    oldest = func.min(outbox_events.c.created_at)
    async with db.engine.connect() as connection:  # read only, ended by a rollback: no commit in the statistics
        row = (await connection.execute(
            select(func.count(), func.coalesce(func.extract("epoch", func.now() - oldest), 0))
            .where(outbox_events.c.published_at.is_(None))
        )).one()
    return int(row[0]), float(row[1])


def _send_span(tracer: Tracer, row: Row) -> Span:
    """The send of one event, a child of the context it was written in (the row's headers)."""
    return tracer.start_span(f"send {row.topic}", context=context_of(row.headers), kind=SpanKind.PRODUCER,
                             attributes=messaging_attributes("send", row.topic, str(row.event_id), row.event_type))


def _headers(row: Row, span: Span | None) -> list[tuple[str, bytes]]:
    """The Kafka headers of an event: the row's, with the relay's span as the context when it has one."""
    headers = {**row.headers, **span_context_fields(span)} if span is not None else row.headers
    return [(name, value.encode()) for name, value in headers.items()]


@dataclass
class OutboxRelay:
    db: Database
    producer: ProducerHolder
    batch_size: int = 500
    poll_interval: float = 1.0
    max_backoff: float = 15.0
    tracing: Tracing | None = None
    _wakeup: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _listener: asyncpg.Connection | None = field(default=None, init=False)

    async def run(self) -> None:
        backoff = 0.2
        while not self._stopping.is_set():
            await self._ensure_listener()
            try:
                sent = await self.relay_batch()
                backoff = 0.2
            except Exception as exc:  # broker or database away: wait and try again, lose nothing
                log.warning("outbox relay failed, retrying", extra={"error": repr(exc), "retry_in": backoff})
                await self._sleep(backoff, self._stopping)
                backoff = min(backoff * 2, self.max_backoff)
                continue
            if sent < self.batch_size:
                await self._sleep(self.poll_interval, self._wakeup)

    async def relay_batch(self) -> int:
        """Send one batch of unpublished events; returns how many were sent."""
        self._wakeup.clear()
        async with self.db.transaction() as session:
            # A round that sends nothing writes nothing and ends with a rollback: an idle relay, which looks
            # every second, adds no commits to the database's statistics.  The lock is its own statement: the
            # batch's must take its snapshot after the lock, or it could still see a batch that the replica
            # which held the lock has just sent.
            if not await session.scalar(select(func.pg_try_advisory_xact_lock(RELAY_LOCK_ID))):
                await session.rollback()
                return 0  # another replica is sending
            rows = (
                await session.execute(
                    select(outbox_events.c.id, outbox_events.c.event_id, outbox_events.c.event_type,
                           outbox_events.c.topic, outbox_events.c.key, outbox_events.c.payload, outbox_events.c.headers)
                    .where(outbox_events.c.published_at.is_(None))
                    .order_by(outbox_events.c.id)
                    .limit(self.batch_size)
                )
            ).all()
            if not rows:
                await session.rollback()
                return 0
            producer = await self.producer.get()
            tracer = self.tracing.tracer if self.tracing is not None else None
            spans = [_send_span(tracer, row) if tracer else None for row in rows]
            try:
                deliveries = [
                    await producer.send(row.topic, value=row.payload.encode(),
                                        key=row.key.encode() if row.key else None, headers=_headers(row, span))
                    for row, span in zip(rows, spans, strict=True)
                ]
                await asyncio.gather(*deliveries)
            except BaseException as exc:
                for span in filter(None, spans):
                    failed(span, exc)
                raise
            finally:
                for span in filter(None, spans):
                    span.end()  # with the batch's acknowledgement (or failure): one round to the broker for all
            await session.execute(
                update(outbox_events)
                .where(outbox_events.c.id.in_([row.id for row in rows]))
                .values(published_at=func.now())
            )
        return len(rows)

    async def flush(self, timeout: float) -> None:
        """Send what is pending now (graceful shutdown); give up quietly after ``timeout``."""
        try:
            async with asyncio.timeout(timeout):
                while await self.relay_batch() == self.batch_size:
                    pass
        except Exception as exc:
            log.warning("outbox flush incomplete; the next start sends the rest", extra={"error": repr(exc)})

    def stop(self) -> None:
        self._stopping.set()
        self._wakeup.set()

    async def close(self) -> None:
        if self._listener is not None:
            try:
                await self._listener.close(timeout=2)
            except Exception:
                self._listener.terminate()
            self._listener = None

    async def _ensure_listener(self) -> None:
        """LISTEN so a commit wakes the relay at once; polling covers a lost connection."""
        if self._listener is not None and not self._listener.is_closed():
            return
        try:
            self._listener = await asyncpg.connect(to_libpq_url(self.db.url), timeout=5)
            await self._listener.add_listener(NOTIFY_CHANNEL, lambda *_: self._wakeup.set())
        except Exception as exc:
            self._listener = None
            log.debug("outbox listener unavailable", extra={"error": repr(exc)})

    @staticmethod
    async def _sleep(seconds: float, until: asyncio.Event) -> None:
        try:
            await asyncio.wait_for(until.wait(), seconds)
        except TimeoutError:
            pass
