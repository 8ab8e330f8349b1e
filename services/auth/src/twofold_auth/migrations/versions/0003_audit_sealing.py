"""audit rows are chained after their commit (audit.seal), not under a lock at insert

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 02:55:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0003'
down_revision: str | Sequence[str] | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('audit_log', sa.Column('seq', sa.BigInteger(), nullable=True))
    # the rows so far were chained in id order
    op.execute('UPDATE audit_log SET seq = id')
    op.create_unique_constraint('audit_log_seq_key', 'audit_log', ['seq'])
    op.alter_column('audit_log', 'prev_hash', existing_type=sa.LargeBinary(length=32), nullable=True)
    op.alter_column('audit_log', 'hash', existing_type=sa.LargeBinary(length=32), nullable=True)
    op.create_index('audit_log_unsealed', 'audit_log', ['id'], postgresql_where=sa.text('seq IS NULL'))


def downgrade() -> None:
    op.drop_index('audit_log_unsealed', table_name='audit_log')
    op.execute('DELETE FROM audit_log WHERE seq IS NULL')
    op.alter_column('audit_log', 'hash', existing_type=sa.LargeBinary(length=32), nullable=False)
    op.alter_column('audit_log', 'prev_hash', existing_type=sa.LargeBinary(length=32), nullable=False)
    op.drop_constraint('audit_log_seq_key', 'audit_log', type_='unique')
    op.drop_column('audit_log', 'seq')
