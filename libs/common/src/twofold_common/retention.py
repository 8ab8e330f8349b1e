"""How long the event tables keep a row: the outbox and the processed-event log must not grow for ever.

A periodic job (``jobs.run_periodically``: one replica per round) deletes, a batch per round:
- outbox rows published more than ``outbox_retention_hours`` ago (an unpublished row is never deleted);
- processed-event rows recorded more than ``processed_events_retention_hours`` ago. A consumer that meets
  an event again finds its id here and skips it, so this must outlast what Kafka can still redeliver:
  the default (30 days) is four times Kafka's default topic retention (7 days).
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from .jobs import Job
from .tables import outbox_events, processed_events


def event_retention_job(outbox_retention_hours: float, processed_events_retention_hours: float,
                        batch: int = 10_000) -> Job:
    outbox_kept = timedelta(hours=outbox_retention_hours)
    processed_kept = timedelta(hours=processed_events_retention_hours)

    async def prune(session: AsyncSession) -> int:
        old_outbox = (sa.select(outbox_events.c.id)
                      .where(outbox_events.c.published_at < sa.func.now() - outbox_kept).limit(batch))
        outbox = await session.execute(sa.delete(outbox_events).where(outbox_events.c.id.in_(old_outbox)))
        old_processed = (sa.select(processed_events.c.consumer, processed_events.c.event_id)
                         .where(processed_events.c.handled_at < sa.func.now() - processed_kept).limit(batch))
        processed = await session.execute(sa.delete(processed_events).where(
            sa.tuple_(processed_events.c.consumer, processed_events.c.event_id).in_(old_processed)))
        return int(outbox.rowcount or 0) + int(processed.rowcount or 0)  # type: ignore[attr-defined]

    return prune
