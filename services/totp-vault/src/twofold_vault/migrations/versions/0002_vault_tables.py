"""Vault tables: encrypted seeds with their replay guard, and hashed recovery codes.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "seeds",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("registration_id", sa.Uuid, nullable=False, unique=True),
        sa.Column("provider", sa.String(20), nullable=False),
        sa.Column("external_seed_id", sa.String(255), nullable=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("label", sa.String(100), nullable=True),
        sa.Column("digits", sa.SmallInteger, nullable=False),
        sa.Column("algorithm", sa.String(10), nullable=False),
        sa.Column("period", sa.SmallInteger, nullable=False),
        sa.Column("window_steps", sa.SmallInteger, nullable=False),
        sa.Column("key_id", sa.String(64), nullable=True),
        sa.Column("nonce", sa.LargeBinary, nullable=True),
        sa.Column("ciphertext", sa.LargeBinary, nullable=True),
        sa.Column("last_used_step", sa.BigInteger, nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoke_reason", sa.String(50), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'active', 'revoked')", name="ck_seeds_status"),
        sa.CheckConstraint(
            "(status = 'revoked') = (ciphertext IS NULL) AND (ciphertext IS NULL) = (key_id IS NULL) "
            "AND (ciphertext IS NULL) = (nonce IS NULL)",
            name="ck_seeds_sealed_unless_revoked",
        ),
    )
    op.create_index("ix_seeds_subject", "seeds", ["subject"])
    op.create_table(
        "recovery_codes",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("code_hash", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("subject", "code_hash", name="uq_recovery_codes_subject_code_hash"),
    )


def downgrade() -> None:
    op.drop_table("recovery_codes")
    op.drop_table("seeds")
