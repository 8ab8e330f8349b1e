"""Code checks decided in the vault: each check's row (attempt limit, lockout, an app's record) and the locks.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "code_attempts",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("method", sa.String(15), nullable=False),
        sa.Column("outcome", sa.String(10), nullable=False),
        sa.Column("reason", sa.String(20), nullable=True),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("method IN ('totp', 'recovery_code')", name="ck_code_attempts_method"),
        sa.CheckConstraint("outcome IN ('success', 'failure', 'limited')", name="ck_code_attempts_outcome"),
    )
    op.create_index("ix_code_attempts_subject_time", "code_attempts", ["subject", "attempted_at"])
    op.create_table(
        "subject_locks",
        sa.Column("subject", sa.String(255), primary_key=True),
        sa.Column("locked_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )


def downgrade() -> None:
    op.drop_table("subject_locks")
    op.drop_table("code_attempts")
