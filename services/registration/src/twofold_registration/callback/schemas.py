from pydantic import Field

from ..tokens.schemas import CamelModel


class CallbackLanding(CamelModel):
    """What the callback answers a caller that does not ask for HTML (the page says the same)."""

    success: bool = Field(description="false when the person declined the setup")
    message: str
    recovery_codes: list[str] | None = Field(default=None, description="a first enrollment's, shown only this once")


class SeedPickup(CamelModel):
    seed: str = Field(description="base32 TOTP secret; store it encrypted, it is not shown again")
    seed_id: str | None
