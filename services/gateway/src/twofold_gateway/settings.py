from typing import ClassVar

from pydantic import Field, IPvAnyNetwork
from pydantic_settings import SettingsConfigDict

from twofold_common.settings import ServiceSettings


class GatewaySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    service_name: ClassVar[str] = "gateway"
    # must equal auth's issuer, which production requires to be https: a mismatch would refuse every token
    public_url_fields: ClassVar[tuple[str, ...]] = ("token_issuer",)
    public_edge: ClassVar[bool] = True
    port: int = 8000
    # Callers on the public side (an ingress, a load balancer, apps' HTTP clients) keep idle connections to
    # the gateway for up to 60 s or so: kept longer here, they never send on one the gateway is closing.
    keep_alive_seconds: int = Field(default=75, ge=1)

    auth_url: str = "http://127.0.0.1:8001"
    registration_url: str = "http://127.0.0.1:8002"
    vault_url: str = "http://127.0.0.1:8003"
    web_url: str = "http://127.0.0.1:8004"
    # A service that does not accept a connection quickly is treated as down (503);
    # one that accepted but does not answer gets a 504 after the read timeout.
    upstream_connect_timeout: float = Field(default=2.0, gt=0)
    upstream_read_timeout: float = Field(default=10.0, gt=0)
    upstream_max_connections: int = Field(default=200, ge=1)

    # the access and setup tokens auth signs (same defaults as auth's issuer and audience)
    token_issuer: str = "http://127.0.0.1:8000"
    token_audience: str = "twofold"
    # Auth's access-token lifetime: how long a revoked session must be remembered.
    access_token_seconds: int = Field(default=900, ge=1)

    # How long auth's refusal of an API key is remembered (a key auth accepted is checked from client events).
    # Short, so a secret that was just created or fixed works almost at once.
    api_key_negative_cache_seconds: float = Field(default=1.0, ge=0)

    # per-ip token bucket on the unauthenticated routes, per replica
    open_rate_per_second: float = Field(default=20.0, gt=0)
    open_burst: int = Field(default=40, ge=1)
    # Peers whose X-Forwarded-For is believed (load balancers in front, JSON list of networks);
    # empty: the peer is the caller.
    trusted_proxies: list[IPvAnyNetwork] = []

    cors_origins: list[str] = []
    openapi_refresh_seconds: float = Field(default=300.0, gt=0)

    def _needs_database(self) -> bool:
        return False
