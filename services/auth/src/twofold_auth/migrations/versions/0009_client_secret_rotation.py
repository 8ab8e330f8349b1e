"""Operators rotate a client's secret with an overlap: the previous secret and its redirect key until it ends

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 01:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0009'
down_revision: str | Sequence[str] | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('api_clients', sa.Column('previous_secret_hash', sa.LargeBinary(length=32), nullable=True))
    op.add_column('api_clients', sa.Column('previous_redirect_key_sealed', sa.LargeBinary(), nullable=True))
    op.add_column('api_clients', sa.Column('previous_secret_expires_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('api_clients', sa.Column('secret_rotated_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column('api_clients', 'secret_rotated_at')
    op.drop_column('api_clients', 'previous_secret_expires_at')
    op.drop_column('api_clients', 'previous_redirect_key_sealed')
    op.drop_column('api_clients', 'previous_secret_hash')
