import base64
from typing import ClassVar

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from twofold_common.settings import ServiceSettings, SettingsError

# Public development key (it is in this file): production refuses it.
DEV_SEED_PICKUP_KEY = base64.b64encode(b"twofold-registration-dev-key-01!").decode()


class RegistrationSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="REGISTRATION_", extra="ignore")

    service_name: ClassVar[str] = "registration"
    public_url_fields: ClassVar[tuple[str, ...]] = ("callback_url", "provider_base_url")
    secret_fields: ClassVar[tuple[str, ...]] = (*ServiceSettings.secret_fields, "seed_pickup_key")
    port: int = 8002

    auth_url: str = "http://127.0.0.1:8001"
    vault_url: str = "http://127.0.0.1:8003"
    # verification of the setup and access tokens auth signs
    token_issuer: str = "http://127.0.0.1:8000"
    token_audience: str = "twofold"

    # seed 001's deep link: the provider's page, and the address it calls back (ours, through the gateway)
    provider_base_url: str = "https://legitate.com/dashboard/simple-totp"
    callback_url: str = "http://127.0.0.1:8000/api/auth/totp-callback"
    service_display_name: str = "twofold"

    token_ttl_seconds: int = Field(default=24 * 3600, ge=60)
    # a provider callback older than this is a replay; one from the future beyond the skew is forged
    callback_max_age_seconds: int = 60
    callback_future_skew_seconds: int = 5
    sweep_interval_seconds: float = 60.0
    # native confirmation: codes per registration and window, as for every code check
    confirm_attempt_limit: int = Field(default=5, ge=1)
    confirm_attempt_window_seconds: int = Field(default=900, ge=1)

    # seed-mode apps fetch the seed once within this time; base64 of the 32-byte AES key sealing it meanwhile
    seed_pickup_seconds: int = Field(default=300, ge=30, le=3600)
    seed_pickup_key: SecretStr = SecretStr(DEV_SEED_PICKUP_KEY)

    @model_validator(mode="after")
    def _pickup_key_is_32_bytes(self) -> "RegistrationSettings":
        try:
            ok = len(base64.b64decode(self.seed_pickup_key.get_secret_value(), validate=True)) == 32
        except ValueError:
            ok = False
        if not ok:
            raise SettingsError(f"{self.env_name('seed_pickup_key')} must be the base64 of 32 bytes")
        return self

    def pickup_key(self) -> bytes:
        return base64.b64decode(self.seed_pickup_key.get_secret_value())


EVENT_SOURCE = f"/{RegistrationSettings.service_name}"
