"""OpenID Connect logout: clients' post-logout redirect URIs and back-channel logout URI, logout deliveries

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-12 10:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = '0008'
down_revision: str | Sequence[str] | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('api_clients', sa.Column('post_logout_redirect_uris', postgresql.ARRAY(sa.Text()),
                                           server_default='{}', nullable=False))
    op.add_column('api_clients', sa.Column('backchannel_logout_uri', sa.Text(), nullable=True))

    op.create_table(
        'logout_deliveries',
        sa.Column('session_id', sa.Uuid(), nullable=False),
        sa.Column('client_id', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.Uuid(), nullable=False),
        sa.Column('sid', sa.Uuid(), nullable=False),
        sa.Column('uri', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('failures', sa.SmallInteger(), server_default=sa.text('0'), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('last_error', sa.String(length=200), nullable=True),
        sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('abandoned_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('session_id'),
    )
    op.create_index('logout_deliveries_due', 'logout_deliveries', ['next_attempt_at'], unique=False,
                    postgresql_where=sa.text('delivered_at IS NULL AND abandoned_at IS NULL'))


def downgrade() -> None:
    op.drop_index('logout_deliveries_due', table_name='logout_deliveries',
                  postgresql_where=sa.text('delivered_at IS NULL AND abandoned_at IS NULL'))
    op.drop_table('logout_deliveries')
    op.drop_column('api_clients', 'backchannel_logout_uri')
    op.drop_column('api_clients', 'post_logout_redirect_uris')
