"""The gateway checks API keys itself: a verifier of each client secret (a keyed SHA-256, twofold_common.api_keys)
beside auth's own keyed hash, published in client.changed.v1. A client from before has none until its secret next
authenticates, when auth records it (clients/service.py): a secret cannot be found from the hash auth kept.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 03:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0010'
down_revision: str | Sequence[str] | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('api_clients', sa.Column('secret_verifier', sa.LargeBinary(length=32), nullable=True))
    op.add_column('api_clients', sa.Column('previous_secret_verifier', sa.LargeBinary(length=32), nullable=True))


def downgrade() -> None:
    op.drop_column('api_clients', 'previous_secret_verifier')
    op.drop_column('api_clients', 'secret_verifier')
