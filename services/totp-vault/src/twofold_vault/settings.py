from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from twofold_common.settings import ServiceSettings


class VaultSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="VAULT_", extra="ignore")

    service_name: ClassVar[str] = "vault"
    port: int = 8003
