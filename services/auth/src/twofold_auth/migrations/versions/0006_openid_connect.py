"""OpenID Connect: clients' redirect URIs and first-party flag, apps' sessions, authorization codes

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 10:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = '0006'
down_revision: str | Sequence[str] | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('api_clients', sa.Column('redirect_uris', postgresql.ARRAY(sa.Text()), server_default='{}',
                                           nullable=False))
    op.add_column('api_clients', sa.Column('first_party', sa.Boolean(), server_default=sa.false(), nullable=False))

    # a session's auth_time is when its sign-in gave both factors: for the sessions there are, their start
    op.add_column('sessions', sa.Column('auth_time', sa.DateTime(timezone=True), nullable=True))
    op.execute('UPDATE sessions SET auth_time = created_at')
    op.alter_column('sessions', 'auth_time', nullable=False, server_default=sa.text('now()'))
    op.add_column('sessions', sa.Column('client_id', sa.String(length=64), nullable=True))
    op.add_column('sessions', sa.Column('scopes', postgresql.ARRAY(sa.String(length=64)), nullable=True))
    op.add_column('sessions', sa.Column('parent_id', sa.Uuid(), nullable=True))

    op.create_table(
        'authorization_codes',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('token_hash', sa.LargeBinary(length=32), nullable=False),
        sa.Column('user_id', sa.Uuid(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('client_id', sa.String(length=64), nullable=False),
        sa.Column('redirect_uri', sa.Text(), nullable=False),
        sa.Column('session_id', sa.Uuid(), nullable=False),
        sa.Column('scopes', postgresql.ARRAY(sa.String(length=64)), nullable=False),
        sa.Column('nonce', sa.String(length=512), nullable=True),
        sa.Column('code_challenge', sa.String(length=64), nullable=False),
        sa.Column('auth_time', sa.DateTime(timezone=True), nullable=False),
        sa.Column('amr', postgresql.ARRAY(sa.String(length=16)), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('issued_session_id', sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(['session_id'], ['sessions.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('token_hash'),
    )
    op.create_index(op.f('ix_authorization_codes_user_id'), 'authorization_codes', ['user_id'], unique=False)
    op.create_index(op.f('ix_authorization_codes_session_id'), 'authorization_codes', ['session_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_authorization_codes_session_id'), table_name='authorization_codes')
    op.drop_index(op.f('ix_authorization_codes_user_id'), table_name='authorization_codes')
    op.drop_table('authorization_codes')
    op.drop_column('sessions', 'parent_id')
    op.drop_column('sessions', 'scopes')
    op.drop_column('sessions', 'client_id')
    op.drop_column('sessions', 'auth_time')
    op.drop_column('api_clients', 'first_party')
    op.drop_column('api_clients', 'redirect_uris')
