"""Tables of the vault service (its own database; no other service reads them).

Migration 0002 creates these; a test compares the migrated schema with them.
"""

import sqlalchemy as sa

metadata = sa.MetaData()

seeds = sa.Table(
    "seeds",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    # A user id, or "<client_id>:<account>" for a third-party app's user.
    sa.Column("subject", sa.String(255), nullable=False),
    # The registration that enrolled the seed: a retried call finds it instead of adding a second seed.
    sa.Column("registration_id", sa.Uuid, nullable=False, unique=True),
    sa.Column("provider", sa.String(20), nullable=False),
    sa.Column("external_seed_id", sa.String(255), nullable=True),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("label", sa.String(100), nullable=True),
    sa.Column("digits", sa.SmallInteger, nullable=False),
    sa.Column("algorithm", sa.String(10), nullable=False),
    sa.Column("period", sa.SmallInteger, nullable=False),
    sa.Column("window_steps", sa.SmallInteger, nullable=False),
    # AES-256-GCM of the raw secret, associated data = id; all NULL once revoked (nothing left to steal).
    sa.Column("key_id", sa.String(64), nullable=True),
    sa.Column("nonce", sa.LargeBinary, nullable=True),
    sa.Column("ciphertext", sa.LargeBinary, nullable=True),
    # The replay guard: a code is accepted only for a step after this one.
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
    sa.Index("ix_seeds_subject", "subject"),
)

recovery_codes = sa.Table(
    "recovery_codes",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("subject", sa.String(255), nullable=False),
    sa.Column("code_hash", sa.LargeBinary, nullable=False),  # HMAC-SHA256(pepper, subject, code)
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    sa.UniqueConstraint("subject", "code_hash", name="uq_recovery_codes_subject_code_hash"),
)

# Every code check the vault decided, TOTP or recovery code: what the attempt limit and the lockout count (a
# subject's TOTP failures), and the record of an app's checks (docs/vault.md).
code_attempts = sa.Table(
    "code_attempts",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("subject", sa.String(255), nullable=False),
    sa.Column("method", sa.String(15), nullable=False),
    # success, failure (a wrong, replayed or refused code), limited (refused untried: over the attempt limit)
    sa.Column("outcome", sa.String(10), nullable=False),
    sa.Column("reason", sa.String(20), nullable=True),  # a failure's: invalid, replayed, no-authenticator, locked
    sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.CheckConstraint("method IN ('totp', 'recovery_code')", name="ck_code_attempts_method"),
    sa.CheckConstraint("outcome IN ('success', 'failure', 'limited')", name="ck_code_attempts_outcome"),
    sa.Index("ix_code_attempts_subject_time", "subject", "attempted_at"),
)

# Subjects locked by too many wrong codes: only a recovery code (or an operator) opens them again.
subject_locks = sa.Table(
    "subject_locks",
    metadata,
    sa.Column("subject", sa.String(255), primary_key=True),
    sa.Column("locked_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)
