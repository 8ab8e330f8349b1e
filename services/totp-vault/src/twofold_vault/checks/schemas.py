from __future__ import annotations

import uuid
from typing import Literal

from pydantic import Field, model_validator

from ..schemas import CamelModel, Subject

# ok; a wrong code: invalid, replayed, no-authenticator (none to check against), locked (a TOTP code of a locked
# subject, not evaluated); limited: refused untried, over the attempt limit (retry after ``retryAfter`` seconds)
Outcome = Literal["ok", "invalid", "replayed", "no-authenticator", "locked", "limited"]


class CheckCode(CamelModel):
    """A TOTP code or a recovery code of ``subject``: one of the two."""

    subject: Subject
    # Any string (the body limit bounds it): a malformed code is a wrong code, not a bad request.
    code: str | None = None
    recovery_code: str | None = None
    seed_id: uuid.UUID | None = Field(default=None, description="only this seed's codes (a TOTP code)")

    @model_validator(mode="after")
    def _one_factor(self) -> CheckCode:
        if (self.code is None) == (self.recovery_code is None):
            raise ValueError("give a code or a recovery code")
        return self


class CheckAnswer(CamelModel):
    """What the check decided, and what it did to the subject's lock (fields at their default are left out)."""

    valid: bool
    outcome: Outcome
    seed_id: uuid.UUID | None = None
    retry_after: int | None = None
    locked: bool = False  # the subject is locked after this check
    locked_now: bool = False  # by this check (its failure reached the lockout)
    unlocked: bool = False  # by this check's recovery code
    recovery_codes_left: int | None = None  # unused recovery codes, after a recovery code's check


class Unlocked(CamelModel):
    unlocked: bool


class AppCode(CamelModel):
    """A third-party app's question: is this its user's current code?"""

    account: str = Field(min_length=1, max_length=255)
    code: str = Field(pattern=r"^[0-9]{6,8}$")


class AppVerdict(CamelModel):
    valid: bool
