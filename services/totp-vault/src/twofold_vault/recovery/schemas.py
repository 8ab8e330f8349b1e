from ..schemas import CamelModel


class RecoveryCodeSet(CamelModel):
    """Shown once: the vault keeps only keyed hashes."""

    codes: list[str]


class ConsumeRecoveryCode(CamelModel):
    # Any string (the body limit bounds it): a malformed code is a wrong code, not a bad request.
    code: str


class RecoveryCodeOutcome(CamelModel):
    valid: bool
    remaining: int


class RecoveryCodeCount(CamelModel):
    remaining: int
