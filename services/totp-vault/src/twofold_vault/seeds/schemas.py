from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, SecretStr, StringConstraints

from ..schemas import CamelModel, Subject
from ..settings import Algorithm, Digits
from .repository import Seed, SeedStatus

Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
# What an authenticator shows: 6 or 8 ASCII digits.
EnrollmentCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{6}([0-9]{2})?$")]
Period = Annotated[int, Field(ge=10, le=300)]
# Text an authenticator app shows (account, issuer): no control characters.
SHOWN_TEXT = r"^[^\x00-\x1f\x7f]+$"
# What a completed enrollment does to the subject's other authenticators:
# first   - only when it has none active (a new account's setup); issues recovery codes;
# replace - revokes the others (re-enrollment, granted for a fresh code); keeps the recovery codes, or
#           issues a set when none is left;
# add     - leaves them (a third-party app's users; the app decides).
Enrollment = Literal["first", "replace", "add"]
ENROLLMENT_FIELD: Enrollment = Field(default="add",
                                     description="what completion does to the subject's other authenticators")


class StoreSeed(CamelModel):
    """A seed the ``legitate`` provider created, handed over by registration with a first code."""

    subject: Subject
    seed: SecretStr = Field(max_length=256, description="base32, at least 128 bits")
    code: EnrollmentCode
    provider: Literal["legitate"]
    external_seed_id: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = None
    registration_id: uuid.UUID = Field(description="idempotency key: a retry returns the same seed")
    enrollment: Enrollment = ENROLLMENT_FIELD
    digits: Digits | None = Field(default=None, description="defaults to the length of the code")
    algorithm: Algorithm | None = None
    period: Period | None = None
    label: Label | None = None


class GenerateSeed(CamelModel):
    """Native enrollment: the vault makes the seed; ``account`` is the name shown in the authenticator app."""

    subject: Subject
    account: Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=SHOWN_TEXT)]
    registration_id: uuid.UUID
    issuer: Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=SHOWN_TEXT)] | None = Field(
        default=None, description="the service the app shows (a third-party app's name); the vault's own if absent")
    digits: Digits | None = None
    algorithm: Algorithm | None = None
    period: Period | None = None
    label: Label | None = None


class ConfirmSeed(CamelModel):
    code: EnrollmentCode
    enrollment: Enrollment = ENROLLMENT_FIELD


class RenameSeed(CamelModel):
    label: Label


class Authenticator(CamelModel):
    seed_id: uuid.UUID
    subject: str
    provider: str
    status: SeedStatus
    label: str | None
    digits: int
    algorithm: str
    period: int
    external_seed_id: str | None
    created_at: datetime
    last_used_at: datetime | None

    @classmethod
    def of(cls, seed: Seed) -> Authenticator:
        return cls(
            seed_id=seed.id, subject=seed.subject, provider=seed.provider, status=seed.status, label=seed.label,
            digits=seed.params.digits, algorithm=seed.params.algorithm, period=seed.params.period,
            external_seed_id=seed.external_seed_id, created_at=seed.created_at, last_used_at=seed.last_used_at,
        )


class Enrolled(Authenticator):
    """An authenticator that became active, with the recovery codes issued with it (shown once)."""

    recovery_codes: list[str] | None = None


class GeneratedSeed(CamelModel):
    """Shown once to the person enrolling: the URI carries the secret."""

    seed_id: uuid.UUID
    otpauth_uri: str
    qr_svg: str
    status: Literal["pending"] = "pending"
