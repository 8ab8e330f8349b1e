"""Event tables: the transactional outbox and the processed-event log.

Revision ID: 0001
Revises:
"""

from twofold_common.tables import create_event_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_event_tables()
