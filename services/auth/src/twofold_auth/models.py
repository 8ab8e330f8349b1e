"""Tables of the auth service (its own database; no other service reads them)."""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, INET, JSONB

metadata = sa.MetaData()

now = sa.func.now()

users = sa.Table(
    "users", metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("email", sa.String(320), nullable=False),
    # emails.normalize_email(email).key: NFKC, case-folded; unique, and the login lookup key
    sa.Column("email_normalized", sa.String(320), nullable=False, unique=True),
    sa.Column("username", sa.String(64), nullable=True),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending_2fa | active | locked | deleted
    sa.Column("totp_enabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("totp_seed_id", sa.String(255), nullable=True),
    sa.Column("totp_provider", sa.String(16), nullable=True),  # legitate | native: which app a login opens
    sa.Column("totp_setup_completed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("locked_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
    sa.Index("uq_users_username", sa.func.lower(sa.column("username")), unique=True,
             postgresql_where=sa.text("username IS NOT NULL")),
)


def _opaque_tokens(name: str, owner: sa.Column, *columns: sa.Column) -> sa.Table:
    """A table of opaque tokens: only their keyed hash is stored (tokens.TokenHasher), each bound to an owner."""
    return sa.Table(
        name, metadata,
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("token_hash", sa.LargeBinary(32), nullable=False, unique=True),
        owner,
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        *columns,
    )


login_challenges = _opaque_tokens(
    "login_challenges",
    sa.Column("user_id", sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    # set by verify-2fa-internal (seed 004's two-call flow); signin-with-2fa consumes it
    sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("verified_method", sa.String(16), nullable=True),
    sa.Column("consumed_at", sa.DateTime(timezone=True), nullable=True),
    # codes tried against this challenge: a login buys a few tries, then the password is asked again
    sa.Column("attempts", sa.SmallInteger, nullable=False, server_default=sa.text("0")),
    sa.Column("ip", INET, nullable=True),
    sa.Column("user_agent", sa.String(512), nullable=True),
)

sessions = sa.Table(
    "sessions", metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("user_id", sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("amr", ARRAY(sa.String(16)), nullable=False),
    sa.Column("ip", INET, nullable=True),
    sa.Column("user_agent", sa.String(512), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
    # when the person gave both factors: created_at for a sign-in, the sign-in's for an app's session (OIDC)
    sa.Column("auth_time", sa.DateTime(timezone=True), nullable=False, server_default=now),
    sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("revoked_reason", sa.String(64), nullable=True),
    # An app's session (OpenID Connect): the client it was issued to, the scopes granted, and the person's
    # session it was authorized from (the ID token's ``sid``). NULL for a person's own sign-in.
    sa.Column("client_id", sa.String(64), nullable=True),
    sa.Column("scopes", ARRAY(sa.String(64)), nullable=True),
    sa.Column("parent_id", sa.Uuid, nullable=True),
)

refresh_tokens = _opaque_tokens(
    "refresh_tokens",
    sa.Column("session_id", sa.Uuid, sa.ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
)

# OpenID Connect authorization codes: single use, bound to everything the authorization decided (oidc/service.py)
authorization_codes = _opaque_tokens(
    "authorization_codes",
    sa.Column("user_id", sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("client_id", sa.String(64), nullable=False),
    sa.Column("redirect_uri", sa.Text, nullable=False),
    # the person's session that authorized it: the ID token's sid
    sa.Column("session_id", sa.Uuid, sa.ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("scopes", ARRAY(sa.String(64)), nullable=False),
    sa.Column("nonce", sa.String(512), nullable=True),
    sa.Column("code_challenge", sa.String(64), nullable=False),  # S256 only
    sa.Column("auth_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("amr", ARRAY(sa.String(16)), nullable=False),
    sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    # the app's session its exchange started: revoked if the code comes back (RFC 6749 4.1.2)
    sa.Column("issued_session_id", sa.Uuid, nullable=True),
)

# OpenID Connect: what a person allowed a third-party app (oidc/service.py). One row per person and app, the
# scopes of every grant so far; it goes with the account (and with the client).
consents = sa.Table(
    "consents", metadata,
    sa.Column("user_id", sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("client_id", sa.String(64), sa.ForeignKey("api_clients.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("scopes", ARRAY(sa.String(64)), nullable=False),
    sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
)

# Back-channel logout: one row per app session that ended, until its app took the logout token or was given up on
# (oidc/backchannel.py). No foreign keys: the session and its user may be gone (an account deleted) before it is sent.
logout_deliveries = sa.Table(
    "logout_deliveries", metadata,
    sa.Column("session_id", sa.Uuid, primary_key=True),  # the app's session: one delivery each
    sa.Column("client_id", sa.String(64), nullable=False),
    sa.Column("user_id", sa.Uuid, nullable=False),  # the token's sub
    sa.Column("sid", sa.Uuid, nullable=False),  # the person's session: the token's sid, as in the ID token
    sa.Column("uri", sa.Text, nullable=False),  # the client's backchannel_logout_uri when the session ended
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
    sa.Column("failures", sa.SmallInteger, nullable=False, server_default=sa.text("0")),  # attempts that failed
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
    sa.Column("last_error", sa.String(200), nullable=True),  # HTTP 500, TimeoutError...: never the token
    sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("abandoned_at", sa.DateTime(timezone=True), nullable=True),
    sa.Index("logout_deliveries_due", "next_attempt_at",
             postgresql_where=sa.text("delivered_at IS NULL AND abandoned_at IS NULL")),
)

password_attempts = sa.Table(
    "password_attempts", metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    # the email's lookup key, whether or not an account has it: unknown emails are limited alike
    sa.Column("account", sa.String(320), nullable=False),
    sa.Column("source", sa.String(64), nullable=False),  # the caller's address
    sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
    sa.Column("outcome", sa.String(16), nullable=False),  # pending | success | failure
    sa.Index("ix_password_attempts_account_time", "account", "attempted_at"),
    sa.Index("ix_password_attempts_source_time", "source", "attempted_at"),
)

api_clients = sa.Table(
    "api_clients", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("secret_hash", sa.LargeBinary(32), nullable=False),
    sa.Column("scopes", ARRAY(sa.String(64)), nullable=False),
    sa.Column("callback_urls", ARRAY(sa.Text), nullable=False),
    sa.Column("seed_mode", sa.Boolean, nullable=False, server_default=sa.false()),
    # OpenID Connect: where its authorization codes may go (exact match), and whether consent is skipped
    sa.Column("redirect_uris", ARRAY(sa.Text), nullable=False, server_default="{}"),
    sa.Column("first_party", sa.Boolean, nullable=False, server_default=sa.false()),
    # OpenID Connect logout: where RP-initiated logout may send the browser back (exact match), and where the
    # app hears that one of its sessions ended (back-channel logout)
    sa.Column("post_logout_redirect_uris", ARRAY(sa.Text), nullable=False, server_default="{}"),
    sa.Column("backchannel_logout_uri", sa.Text, nullable=True),
    # HMAC key of the signatures on redirects to this app, derived from its secret, sealed (AES-GCM)
    sa.Column("redirect_key_sealed", sa.LargeBinary, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
    sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
    # A rotated secret keeps working until ``previous_secret_expires_at`` (the overlap), and redirects stay signed
    # with its key until then: the app moves to the new secret in its own time (clients/service.py)
    sa.Column("previous_secret_hash", sa.LargeBinary(32), nullable=True),
    sa.Column("previous_redirect_key_sealed", sa.LargeBinary, nullable=True),
    sa.Column("previous_secret_expires_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("secret_rotated_at", sa.DateTime(timezone=True), nullable=True),
    # What the gateway checks API keys with (twofold_common.api_keys, published in client.changed.v1): auth's own
    # check stays on the keyed hashes above. Null for a client from before verifiers until its secret next
    # authenticates (clients/service.py)
    sa.Column("secret_verifier", sa.LargeBinary(32), nullable=True),
    sa.Column("previous_secret_verifier", sa.LargeBinary(32), nullable=True),
)

audit_log = sa.Table(
    "audit_log", metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("user_id", sa.Uuid, nullable=True, index=True),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("reason", sa.String(128), nullable=True),
    sa.Column("ip", sa.String(64), nullable=True),
    sa.Column("user_agent", sa.String(512), nullable=True),
    sa.Column("details", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    # Set when the row is sealed (audit.seal): its place in the chain, and
    # sha256(prev_hash || canonical row), so editing or deleting a row breaks every later hash.
    sa.Column("seq", sa.BigInteger, nullable=True, unique=True),
    sa.Column("prev_hash", sa.LargeBinary(32), nullable=True),
    sa.Column("hash", sa.LargeBinary(32), nullable=True),
    sa.Index("audit_log_unsealed", "id", postgresql_where=sa.text("seq IS NULL")),
)
