"""Settings shared by every service.

Each service subclasses :class:`ServiceSettings` with its own ``env_prefix``
(``AUTH_``, ``VAULT_``...).  In production the settings refuse to load when
the database URL is missing, a secret is empty, too short or one of the
development defaults, or an internal key is a development one: seed 003's
lesson is that a service which quietly falls back to a default is worse than
one that does not start.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .internal_keys import (
    KeyFormatError,
    PublicKeys,
    SigningKey,
    dev_public_keys,
    dev_signing_key,
    is_development_key,
    parse_public_keys,
    parse_signing_key,
)

# Development defaults are public: they are in this file.  Production refuses them.
DEV_DATABASE_PASSWORD = "twofold-dev"
MIN_SECRET_LENGTH = 32


class SettingsError(ValueError):
    """A setting is missing or unsafe; the message names the environment variable."""


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", env_file=None)

    service_name: ClassVar[str] = "service"
    # Names of the SecretStr fields that production checks, per subclass.
    secret_fields: ClassVar[tuple[str, ...]] = ()
    # Names of public URL fields that must be https in production.
    public_url_fields: ClassVar[tuple[str, ...]] = ()
    # Whether the service speaks to Kafka (its readiness then needs the broker).
    uses_broker: ClassVar[bool] = True
    # Whether its callers are outside the deployment (the gateway): a caller's trace context is then not believed
    # (tracing.TracingMiddleware).
    public_edge: ClassVar[bool] = False

    environment: Literal["development", "test", "production"] = "development"
    host: str = "127.0.0.1"
    port: int = 8000
    # /metrics (Prometheus) listens here, never on ``port``: empty, ``port`` + 1000; 0, no metrics listener
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    log_level: str = "INFO"

    database_url: str | None = None
    database_pool_size: int = 20
    migrate_on_start: bool = True

    kafka_bootstrap: str = "127.0.0.1:29092"
    # Default ``twofold-<service>``: every replica of a service shares the work. Tests set their own.
    consumer_group: str | None = None
    kafka_topic_partitions: int = 3
    kafka_replication_factor: int = 1
    # topics this service creates keep records this long (7 days, Kafka's own default, made explicit)
    kafka_topic_retention_hours: float = Field(default=168.0, gt=0)

    # the event tables' retention (retention.py): published outbox rows, and the ids of handled events
    outbox_retention_hours: float = Field(default=168.0, gt=0)
    processed_events_retention_hours: float = Field(default=720.0, gt=0)
    event_retention_interval_seconds: float = Field(default=300.0, gt=0)

    # Calls between services (internal_keys.py has the formats): this service's own signing key, and every
    # service's public keys. Empty: the development keys, which production refuses.
    internal_signing_key: SecretStr = SecretStr("")
    internal_public_keys: str = ""
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    # An idle kept-alive connection is closed after this long. It must exceed the idle time of whatever pools
    # connections to the service, or the pool may send on a connection being closed and get no answer: our
    # peer client keeps one 2 s (peer.KEEPALIVE_EXPIRY_SECONDS); the gateway's own default is above a load
    # balancer's or an ingress's (both commonly keep 60 s).
    keep_alive_seconds: int = Field(default=5, ge=1)
    # on SIGTERM: first drain this long (still serving, not ready, closing connections: draining.py), then
    # stop, letting requests in flight finish within the grace
    shutdown_drain_seconds: float = Field(default=3.0, ge=0, le=60)
    shutdown_grace_seconds: float = 10.0
    # OpenTelemetry traces (tracing.py), by the unprefixed variables every OpenTelemetry SDK reads: off unless one
    # names a collector (OTLP over HTTP; the base URL gets /v1/traces, the traces endpoint is taken as it is)
    otel_exporter_otlp_endpoint: str = Field(default="", validation_alias="OTEL_EXPORTER_OTLP_ENDPOINT")
    otel_exporter_otlp_traces_endpoint: str = Field(default="", validation_alias="OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @property
    def traces_endpoint(self) -> str | None:
        """Where the service sends its spans, or None: tracing is off."""
        if self.otel_exporter_otlp_traces_endpoint:
            return self.otel_exporter_otlp_traces_endpoint
        if self.otel_exporter_otlp_endpoint:
            return self.otel_exporter_otlp_endpoint.rstrip("/") + "/v1/traces"
        return None

    @property
    def metrics_listen_port(self) -> int:
        return self.port + 1000 if self.metrics_port is None else self.metrics_port

    def env_name(self, field: str) -> str:
        return f"{self.model_config.get('env_prefix', '')}{field}".upper()

    @model_validator(mode="after")
    def _check(self) -> ServiceSettings:
        self._check_internal_keys()
        if self.metrics_listen_port > 65535 or self.metrics_listen_port == self.port:
            # unset, it is the service's port + 1000
            raise SettingsError(f"{self.env_name('metrics_port')} must differ from {self.env_name('port')} and be at "
                                "most 65535 (0: no metrics listener)")
        for variable, url in (("OTEL_EXPORTER_OTLP_ENDPOINT", self.otel_exporter_otlp_endpoint),
                              ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", self.otel_exporter_otlp_traces_endpoint)):
            if url and not url.startswith(("http://", "https://")):
                raise SettingsError(f"{variable} must be an http:// or https:// URL (OTLP over HTTP)")
        if self.processed_events_retention_hours < self.kafka_topic_retention_hours:
            # a handled event's id must outlive every copy Kafka can still deliver, or a replay handles it again
            raise SettingsError(f"{self.env_name('processed_events_retention_hours')} must be at least "
                                f"{self.env_name('kafka_topic_retention_hours')}")
        if not self.production:
            if self.database_url is None and self._needs_database():
                # The native development stack (deploy/native/infra.sh).
                self.database_url = (
                    f"postgresql+asyncpg://postgres:{DEV_DATABASE_PASSWORD}@127.0.0.1:25432/{self.service_name}"
                )
            return self
        if not self.database_url and self._needs_database():
            raise SettingsError(f"{self.env_name('database_url')} is required in production")
        if self.database_url and DEV_DATABASE_PASSWORD in self.database_url:
            raise SettingsError(f"{self.env_name('database_url')} uses the development password")
        for field in self.secret_fields:
            value = getattr(self, field)
            plain = value.get_secret_value() if isinstance(value, SecretStr) else (value or "")
            default = type(self).model_fields[field].default
            default_plain = default.get_secret_value() if isinstance(default, SecretStr) else default
            if not plain or plain == default_plain or "change-me" in plain or len(plain) < MIN_SECRET_LENGTH:
                raise SettingsError(
                    f"{self.env_name(field)} must be set to a secret of at least "
                    f"{MIN_SECRET_LENGTH} characters in production (missing, too short or a default)"
                )
        for field in self.public_url_fields:
            url = getattr(self, field) or ""
            if not str(url).startswith("https://"):
                raise SettingsError(f"{self.env_name(field)} must be an https:// URL in production")
        return self

    def _check_internal_keys(self) -> None:
        """A malformed key stops the start in every environment: the calls would all be refused later."""
        for field, read in (("internal_signing_key", self.internal_key),
                            ("internal_public_keys", self.internal_key_ring)):
            try:
                read()
            except KeyFormatError as exc:
                raise SettingsError(f"{self.env_name(field)}: {exc}") from None
        if not self.production:
            return
        if not self.internal_signing_key.get_secret_value().strip():
            raise SettingsError(f"{self.env_name('internal_signing_key')} must be set in production, to this "
                                "service's own key (python -m twofold_common.internal_keys keygen)")
        if is_development_key(self.internal_key().private_key):
            raise SettingsError(f"{self.env_name('internal_signing_key')} is a development key; production "
                                "needs its own")
        if not self.internal_public_keys.strip():
            raise SettingsError(f"{self.env_name('internal_public_keys')} must be set in production (the default "
                                "holds the development keys)")
        if any(is_development_key(key) for keys in self.internal_key_ring().values() for key in keys.values()):
            raise SettingsError(f"{self.env_name('internal_public_keys')} holds a development key: anyone could "
                                "sign as that service")

    def internal_key(self) -> SigningKey:
        """This service's key for the calls it makes; its development key when the setting is empty."""
        text = self.internal_signing_key.get_secret_value()
        return parse_signing_key(text) if text.strip() else dev_signing_key(self.service_name)

    def internal_key_ring(self) -> PublicKeys:
        """The public keys that vouch for callers; the four development keys when the setting is empty."""
        return parse_public_keys(self.internal_public_keys) if self.internal_public_keys.strip() else dev_public_keys()

    def _needs_database(self) -> bool:
        return True

    def require_database_url(self) -> str:
        if not self.database_url:
            raise SettingsError(f"{self.env_name('database_url')} is not set")
        return self.database_url
