from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from twofold_common.settings import ServiceSettings


class RegistrationSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="REGISTRATION_", extra="ignore")

    service_name: ClassVar[str] = "registration"
    port: int = 8002
