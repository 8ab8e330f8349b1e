"""what a completed enrollment does to the other authenticators, and the attempt limit of native confirmation

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 13:10:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0004'
down_revision: str | Sequence[str] | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('registrations', sa.Column('enrollment', sa.String(length=16), nullable=True))
    # a person's pending registration was started with a setup token: a first enrollment
    op.execute("UPDATE registrations SET enrollment = CASE WHEN user_id IS NOT NULL THEN 'first' ELSE 'add' END")
    op.alter_column('registrations', 'enrollment', nullable=False)
    op.add_column('registrations', sa.Column('confirm_attempts', sa.SmallInteger(), nullable=False,
                                             server_default=sa.text('0')))
    op.add_column('registrations', sa.Column('confirm_window_started_at', sa.DateTime(timezone=True),
                                             nullable=True))


def downgrade() -> None:
    op.drop_column('registrations', 'confirm_window_started_at')
    op.drop_column('registrations', 'confirm_attempts')
    op.drop_column('registrations', 'enrollment')
