from typing import ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from twofold_common.settings import ServiceSettings


class WebSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="WEB_", extra="ignore")

    service_name: ClassVar[str] = "web"
    uses_broker: ClassVar[bool] = False
    secret_fields: ClassVar[tuple[str, ...]] = (*ServiceSettings.secret_fields, "cookie_key")
    port: int = 8004

    # The public API, reached through the gateway (its address inside the deployment): the pages do nothing
    # the API does not do, and meet its limits.
    gateway_url: str = "http://127.0.0.1:8000"
    api_timeout_seconds: float = Field(default=10.0, gt=0)

    # Seals the visit cookie (a person's tokens while they use the pages); production refuses this default.
    cookie_key: SecretStr = SecretStr("twofold-web-development-cookie-key-change-me")
    # Browsers keep a Secure cookie on https only (and on http://localhost and 127.0.0.1): off only for a
    # development address that is neither.
    cookie_secure: bool = True
    # A visit (signed in or half way through a flow) ends after this long without a page.
    visit_seconds: int = Field(default=12 * 3600, ge=60)

    def _needs_database(self) -> bool:
        return False
