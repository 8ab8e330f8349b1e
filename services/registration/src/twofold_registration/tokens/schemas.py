from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field
from pydantic.alias_generators import to_camel


class CamelModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class StartSetup(CamelModel):
    provider: Literal["legitate", "native"] = "legitate"
    # third-party apps: the app's own identifier of its user, and where to send the user back
    account: str | None = Field(default=None, min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]+$")
    email: EmailStr | None = None
    callback_url: str | None = Field(default=None, max_length=2048)
    # seed 001's request carried a ``token`` field (the account again); accepted and ignored
    token: str | None = Field(default=None, max_length=320, exclude=True)


class SetupStarted(CamelModel):
    registration_token: str
    provider: Literal["legitate", "native"]
    expires_at: datetime
    deep_link: str | None = None
    otpauth_uri: str | None = None
    qr_svg: str | None = None


class ResumeSetup(CamelModel):
    registration_token: str = Field(min_length=10, max_length=200)


class SetupResumed(CamelModel):
    """A registration as its holder left it: the way on while it is pending (the provider's link, or the
    authenticator app's URI and QR code again), its state once it is not."""

    status: Literal["pending", "completed", "rejected", "expired"]
    provider: Literal["legitate", "native"]
    expires_at: datetime
    client_id: str | None = Field(description="the app that started it; none for a person's own setup")
    service_name: str = Field(description="the name the authenticator shows: the app's, or twofold's")
    deep_link: str | None = None
    otpauth_uri: str | None = None
    qr_svg: str | None = None


class ConfirmSetup(CamelModel):
    registration_token: str = Field(min_length=10, max_length=200)
    code: str = Field(pattern=r"^[0-9]{6,8}$")


class RegistrationStatus(CamelModel):
    status: Literal["pending", "completed", "rejected", "expired"]
    provider: str
    account: str | None
    seed_id: str | None
    created_at: datetime
    expires_at: datetime
    completed_at: datetime | None


class SetupCompleted(RegistrationStatus):
    """A native enrollment confirmed; a first enrollment comes with recovery codes, shown this once."""

    recovery_codes: list[str] | None = None
    # an app's registration with a callbackUrl: that URL with the signed parameters of the provider's redirect
    redirect_to: str | None = None
