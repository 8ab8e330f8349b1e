import uuid
from datetime import datetime
from typing import Literal

from pydantic import EmailStr, Field, field_validator

from ..login.schemas import TOTP_CODE
from ..sessions.schemas import CamelModel


class Registration(CamelModel):
    email: EmailStr = Field(max_length=320)
    password: str = Field(min_length=10, max_length=1024)
    username: str | None = Field(default=None, min_length=2, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")

    @field_validator("password")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the password cannot be blank")
        return value


class Registered(CamelModel):
    user_id: uuid.UUID
    status: Literal["pending_2fa"] = "pending_2fa"
    setup_token: str
    setup_token_expires_at: datetime


class SetupToken(CamelModel):
    setup_token: str
    expires_at: datetime


class TwoFactorStatus(CamelModel):
    enabled: bool
    status: str
    setup_completed_at: datetime | None
    seed_id: str | None


class FreshCode(CamelModel):
    """A current TOTP code: changes to 2FA or the account need a fresh second factor."""

    code: str = Field(pattern=TOTP_CODE)


class RecoveryCodes(CamelModel):
    codes: list[str]


class AuditEntry(CamelModel):
    id: int
    user_id: uuid.UUID | None
    action: str
    outcome: str
    reason: str | None
    ip: str | None
    user_agent: str | None
    details: dict[str, str]
    created_at: datetime


class AuditPage(CamelModel):
    entries: list[AuditEntry]


class Adoption(CamelModel):
    users: int
    enrolled: int
    share: float
