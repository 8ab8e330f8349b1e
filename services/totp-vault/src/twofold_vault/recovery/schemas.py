from ..schemas import CamelModel


class RecoveryCodeSet(CamelModel):
    """Shown once: the vault keeps only keyed hashes."""

    codes: list[str]


class RecoveryCodeCount(CamelModel):
    remaining: int
