"""which kind of authenticator a user enrolled, and the attempts each login challenge has had

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 13:00:00

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
    # legitate (the provider's app, which a deep link can open) or native (any authenticator app)
    op.add_column('users', sa.Column('totp_provider', sa.String(length=16), nullable=True))
    op.add_column('login_challenges', sa.Column('attempts', sa.SmallInteger(), nullable=False,
                                                server_default=sa.text('0')))


def downgrade() -> None:
    op.drop_column('login_challenges', 'attempts')
    op.drop_column('users', 'totp_provider')
