from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from twofold_common.settings import ServiceSettings


class GatewaySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    service_name: ClassVar[str] = "gateway"
    port: int = 8000

    def _needs_database(self) -> bool:
        return False
