import base64
import json
from typing import ClassVar, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from twofold_common.settings import ServiceSettings, SettingsError

from .crypto import KeyRing, KeyRingError, parse_keys

# Development defaults are public (they are in this file); production refuses them.
DEV_KEY_ID = "dev-1"
DEV_KEY = b"twofold-vault-development-key-01"  # 32 bytes
DEV_ENCRYPTION_KEYS = json.dumps({DEV_KEY_ID: base64.b64encode(DEV_KEY).decode()})
DEV_RECOVERY_CODE_PEPPER = "dev-recovery-code-pepper-change-me-0123"

Algorithm = Literal["SHA1", "SHA256", "SHA512"]
Digits = Literal[6, 8]


class VaultSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="VAULT_", extra="ignore")

    service_name: ClassVar[str] = "vault"
    secret_fields: ClassVar[tuple[str, ...]] = (
        *ServiceSettings.secret_fields, "encryption_keys", "recovery_code_pepper",
    )
    port: int = 8003

    # {"key id": "<base64 of 32 bytes>", ...}; seeds are sealed with the active one.
    encryption_keys: SecretStr = SecretStr(DEV_ENCRYPTION_KEYS)
    active_key_id: str = DEV_KEY_ID
    # Keys the HMAC of recovery codes, so a copy of the table alone cannot test guesses.
    recovery_code_pepper: SecretStr = SecretStr(DEV_RECOVERY_CODE_PEPPER)

    issuer: str = Field(default="twofold", min_length=1, max_length=64)
    # Defaults for natively generated seeds: what every authenticator app understands.
    totp_digits: Digits = 6
    totp_algorithm: Algorithm = "SHA1"
    totp_period: int = Field(default=30, ge=10, le=300)
    # Steps accepted either side of the current one (clock drift between phone and server).
    totp_window: int = Field(default=1, ge=0, le=5)

    # Code checks per subject (a user, or an app's account): 5 TOTP codes per 15 minutes; 10 wrong ones in an
    # hour lock the subject until a recovery code or an operator unlocks it (docs/vault.md).
    attempt_limit: int = Field(default=5, ge=1)
    attempt_window_seconds: int = Field(default=900, ge=1)
    lockout_failures: int = Field(default=10, ge=1)
    lockout_window_seconds: int = Field(default=3600, ge=1)
    # How long each check's row stays (the record of an app's checks); at least the lockout window.
    attempt_retention_seconds: int = Field(default=30 * 86400, ge=3600)
    cleanup_interval_seconds: float = Field(default=300.0, gt=0)

    @model_validator(mode="after")
    def _check_key_ring(self) -> "VaultSettings":
        try:
            keys = parse_keys(self.encryption_keys.get_secret_value())
        except KeyRingError as exc:
            raise SettingsError(f"{self.env_name('encryption_keys')} {exc}") from None
        if self.active_key_id not in keys:
            raise SettingsError(f"{self.env_name('active_key_id')} {self.active_key_id!r} is not a key id of "
                                f"{self.env_name('encryption_keys')}")
        if self.production and DEV_KEY in keys.values():
            raise SettingsError(f"{self.env_name('encryption_keys')} contains the development key; "
                                "production needs its own keys")
        return self

    @model_validator(mode="after")
    def _attempts_outlive_the_lockout(self) -> "VaultSettings":
        if self.attempt_retention_seconds < self.lockout_window_seconds:
            raise SettingsError(f"{self.env_name('attempt_retention_seconds')} must not be shorter than "
                                f"{self.env_name('lockout_window_seconds')}: the lockout counts those rows")
        return self

    def key_ring(self) -> KeyRing:
        return KeyRing(parse_keys(self.encryption_keys.get_secret_value()), self.active_key_id)


# The CloudEvents ``source`` of every event the vault publishes.
EVENT_SOURCE = f"/{VaultSettings.service_name}"
