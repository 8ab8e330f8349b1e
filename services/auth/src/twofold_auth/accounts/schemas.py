import uuid
from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, EmailStr, Field, field_validator

from ..emails import normalize_email
from ..login.schemas import FactorFields
from ..sessions.schemas import CamelModel


class Registration(CamelModel):
    email: EmailStr = Field(max_length=320)
    password: str = Field(min_length=10, max_length=1024)
    username: str | None = Field(default=None, min_length=2, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")

    @field_validator("email")
    @classmethod
    def _one_spelling(cls, value: str) -> str:
        """Look-alike spellings (full-width letters, combining accents) are one address; mixed scripts are refused."""
        return normalize_email(value).address

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


class RegistrationAccepted(CamelModel):
    """The answer while register conceals which emails have an account: the same for a new and a known email."""

    status: Literal["accepted"] = "accepted"
    detail: str = ("Continue by signing in with this email and password: a new account then starts "
                   "two-factor setup. Check this email's inbox for a message from us.")


class SetupToken(CamelModel):
    setup_token: str
    expires_at: datetime


class AuthenticatorView(CamelModel):
    """An authenticator that can sign in (no secret: the vault keeps it)."""

    model_config = ConfigDict(extra="ignore")

    seed_id: str
    provider: Literal["legitate", "native"]
    label: str | None
    external_seed_id: str | None
    created_at: datetime
    last_used_at: datetime | None


class TwoFactorStatus(CamelModel):
    enabled: bool
    status: str
    setup_completed_at: datetime | None
    seed_id: str | None = Field(description="the newest authenticator's seed id (see authenticators for all)")
    authenticators: list[AuthenticatorView]
    recovery_codes_remaining: int


class FreshCode(FactorFields):
    """A fresh second factor from what the account already has: a current TOTP code, or one of its
    recovery codes (a lost phone). Every change to 2FA or to the account needs one."""


class RecoveryCodes(CamelModel):
    codes: list[str]


class Adoption(CamelModel):
    users: int
    enrolled: int
    share: float
