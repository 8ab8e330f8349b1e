import uuid
from datetime import datetime

from pydantic import Field

from ..sessions.schemas import CamelModel

# What an operator writes down as the reason of an action: kept in the audit, never a secret
REASON = Field(default=None, max_length=500, pattern=r"^[^\x00-\x1f\x7f]*$",
               description="why, in the operator's words (kept in the audit)")


class Reason(CamelModel):
    reason: str | None = REASON


# no control character (PostgreSQL refuses a NUL in a query)
PRINTABLE = r"^[^\x00-\x1f\x7f]+$"


class UserLookup(CamelModel):
    email: str = Field(min_length=3, max_length=320, pattern=PRINTABLE)
    reason: str | None = REASON


class UserSummary(CamelModel):
    """An account as an operator sees it: no password hash, no seed, no code."""

    user_id: uuid.UUID
    email: str
    status: str = Field(description="pending_2fa | active | locked")
    created_at: datetime
    two_factor_enabled: bool
    authenticator: str | None = Field(description="legitate | native: which app holds the seed")
    two_factor_since: datetime | None
    locked: bool
    locked_at: datetime | None
    live_sessions: int


class SessionsRevoked(CamelModel):
    sessions_revoked: int


class Rotation(CamelModel):
    overlap_seconds: int = Field(default=86_400, ge=0, le=30 * 86_400,
                                 description="how long the previous secret keeps working; 0: it stops at once")
    reason: str | None = REASON


class ClientState(CamelModel):
    client_id: str
    name: str
    scopes: list[str]
    callback_urls: list[str]
    seed_mode: bool
    redirect_uris: list[str]
    first_party: bool
    disabled: bool
    disabled_at: datetime | None
    secret_rotated_at: datetime | None
    previous_secret_until: datetime | None = Field(description="the previous secret works too until then")


class ClientChanged(ClientState):
    changed: bool = Field(description="false when it already was so")
    sessions_revoked: int = 0


class RotatedSecret(ClientState):
    client_secret: str = Field(description="the new secret, shown once")
