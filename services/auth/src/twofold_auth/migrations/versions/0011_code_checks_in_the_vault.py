"""Code attempts are counted where codes are decided, in the vault: auth's table of them goes

Its rows lived at most a day and counted only toward windows of an hour at most; the vault counts from its own
rows from now on (a subject's attempts of the last hour before the upgrade are forgotten once).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 03:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0011'
down_revision: str | Sequence[str] | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index('ix_second_factor_attempts_subject_time', table_name='second_factor_attempts')
    op.drop_table('second_factor_attempts')


def downgrade() -> None:
    op.create_table('second_factor_attempts',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('subject', sa.String(length=320), nullable=False),
    sa.Column('attempted_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_second_factor_attempts_subject_time', 'second_factor_attempts', ['subject', 'attempted_at'],
                    unique=False)
