"""The two tables every service database has for events: the outbox and the processed-event log.

They live in each service's own database and are created by each service's
first migration (a frozen copy: a migration never imports live code), so a
service's events commit in the same transaction as its state.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

event_metadata = sa.MetaData()

outbox_events = sa.Table(
    "outbox_events",
    event_metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("event_id", sa.Uuid, nullable=False, unique=True),
    sa.Column("event_type", sa.String(200), nullable=False),
    sa.Column("topic", sa.String(249), nullable=False),
    sa.Column("key", sa.String(200), nullable=True),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("headers", JSONB, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
    sa.Index("ix_outbox_events_unpublished", "id", postgresql_where=sa.text("published_at IS NULL")),
)

processed_events = sa.Table(
    "processed_events",
    event_metadata,
    sa.Column("consumer", sa.String(200), primary_key=True),
    sa.Column("event_id", sa.Uuid, primary_key=True),
    sa.Column("event_type", sa.String(200), nullable=False),
    sa.Column("outcome", sa.String(20), nullable=False),  # handled | dead_lettered
    sa.Column("handled_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)
