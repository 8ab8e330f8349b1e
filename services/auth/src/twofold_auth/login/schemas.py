from datetime import datetime
from typing import Literal

from pydantic import Field, model_validator

from ..sessions.schemas import CamelModel

TOTP_CODE = r"^[0-9]{6,8}$"
RECOVERY_CODE = r"^[A-Za-z0-9-]{8,32}$"


class PasswordLogin(CamelModel):
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=1024)


class LoginResponse(CamelModel):
    """``2fa_required``: send a code with the challenge.  ``2fa_setup_required``: enroll first, with the setup token."""

    status: Literal["2fa_required", "2fa_setup_required"]
    challenge_token: str | None = None
    totp_seed_id: str | None = None
    authenticator: Literal["legitate", "native"] | None = Field(
        default=None, description="the app that holds the seed: the provider's (open it with deepLink) or "
                                  "any authenticator app (native: no link, the person opens their app)")
    deep_link: str | None = None
    setup_token: str | None = None
    expires_at: datetime | None = None


class FactorFields(CamelModel):
    code: str | None = Field(default=None, pattern=TOTP_CODE, description="A TOTP code (6 or 8 digits)")
    recovery_code: str | None = Field(default=None, pattern=RECOVERY_CODE)

    @model_validator(mode="after")
    def _exactly_one(self) -> "FactorFields":
        if (self.code is None) == (self.recovery_code is None):
            raise ValueError("give exactly one of code and recoveryCode")
        return self


class ChallengeAnswer(FactorFields):
    challenge_token: str = Field(min_length=10, max_length=200)


class EmailCode(CamelModel):
    """Seed 004's verify-2fa-internal: the second factor of the password login that gave ``challengeToken``."""

    email: str = Field(min_length=3, max_length=320)
    challenge_token: str = Field(min_length=10, max_length=200)
    code: str = Field(pattern=TOTP_CODE)


class PasswordSignin(PasswordLogin):
    """Seed 004's signin-with-2fa: the same login's password again, and its verified challenge."""

    challenge_token: str = Field(min_length=10, max_length=200)


class StepUp(CamelModel):
    code: str = Field(pattern=TOTP_CODE)


class Verified(CamelModel):
    verified: bool = True
    verified_at: datetime
