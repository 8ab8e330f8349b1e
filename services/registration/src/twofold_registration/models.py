"""Tables of the registration service (its own database; no other service reads them)."""

import sqlalchemy as sa

metadata = sa.MetaData()

registrations = sa.Table(
    "registrations", metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    # sha256 of the reg_ token: the token itself is never stored (seed 000's table kept it in clear)
    sa.Column("token_hash", sa.LargeBinary(32), nullable=False, unique=True),
    # the subject: a first-party user, or a third-party app's account
    sa.Column("user_id", sa.Uuid, nullable=True),
    sa.Column("client_id", sa.String(64), nullable=True),
    sa.Column("account", sa.String(255), nullable=True),
    sa.Column("email", sa.String(320), nullable=True),
    sa.Column("service_name", sa.String(255), nullable=False),
    sa.Column("provider", sa.String(16), nullable=False),  # legitate | native
    # first (a setup token: only while the account has no authenticator) | replace (re-enrollment,
    # granted for a fresh code: the others are revoked) | add (a third-party app's user)
    sa.Column("enrollment", sa.String(16), nullable=False),
    sa.Column("callback_url", sa.Text, nullable=True),
    sa.Column("status", sa.String(16), nullable=False),  # pending | completed | rejected | expired
    sa.Column("status_reason", sa.String(64), nullable=True),
    sa.Column("seed_id", sa.String(255), nullable=True),  # the vault's id of the seed
    sa.Column("external_seed_id", sa.String(255), nullable=True),  # the provider's seedId
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
    # native confirmation: codes tried in the current window (the same limit as every code check)
    sa.Column("confirm_attempts", sa.SmallInteger, nullable=False, server_default=sa.text("0")),
    sa.Column("confirm_window_started_at", sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("(user_id IS NOT NULL) <> (client_id IS NOT NULL AND account IS NOT NULL)",
                       name="ck_registrations_one_subject"),
    sa.Index("ix_registrations_user_id", "user_id"),
    sa.Index("ix_registrations_client_account", "client_id", "account"),
    sa.Index("ix_registrations_pending_expiry", "expires_at", postgresql_where=sa.text("status = 'pending'")),
)

# Seed 001's mode, opt-in per app: the app may fetch the new seed once, server to server,
# within minutes of completion; then the row is gone. Sealed with AES-GCM (settings key).
seed_pickups = sa.Table(
    "seed_pickups", metadata,
    sa.Column("registration_id", sa.Uuid, sa.ForeignKey("registrations.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("sealed_seed", sa.LargeBinary, nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)
