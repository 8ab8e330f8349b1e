from typing import ClassVar

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from twofold_common.settings import ServiceSettings, SettingsError

# Public development key ring (it is in this file): production refuses it.
DEV_SIGNING_KEYS = '{"dev-ed25519-1": "BtNoQ9RYdYcOeVpdObwUG3/hl8pY4xEbIWvprm3yVgc="}'
DEV_TOKEN_PEPPER = "dev-token-pepper-change-me-0123456789abcdef"
# Public development RSA key (base64 DER, PKCS#8) that signs ID tokens; production refuses it. A fixed key rather
# than one derived from a label like the internal keys: ``cryptography`` has no seeded RSA key generation, and
# generating primes ourselves is the hand-written crypto we avoid.
DEV_ID_TOKEN_KEY_ID = "dev-rsa-1"
DEV_ID_TOKEN_KEY = (
    "MIIEvwIBADANBgkqhkiG9w0BAQEFAASCBKkwggSlAgEAAoIBAQC0mQuCjvdevSs/tFjCXzJLa7mL6Hu+ia94VOwJUiMYUND7tEzOBjnn"
    "TUnWGTAlvcHUdmFsCfT2Y5XTBwnxi5L7Y33p2Mgj/S9ijX67OWd3bLG1UAvUIKLyY3kysMyRlYkB3mA0sPL157KOQ7gmT1CdgnIptJRR"
    "Xp58ZvFPswVv/D/UVfiQJM5eUxbPCfwuvMHdwx+PQa2sEUijFzFoA/OqizV6qFi3tRcExGDuMwo30h3bTnsOzhBVnd114baaul6VFglO"
    "sG5xUeSXNfYByqmpG7VeXXBKs/r2Kj5amM8CRAALcq50WirwA6fJI5XFj69uojgwIcuNDFpGDVYQZQbbAgMBAAECggEAA/I0Ji4piZBo"
    "mYO/TL/3wV4hN8Vkrs0jYGW6opmA2s8pQda2tum76inuKxdxzeFPkuzjRBEToS6b33iP5w89rvCFl8580Qx/NJAS7NRcRmfBmkyddY0h"
    "AlraExl53tR9oeTSBVS4elcNt74TEAM7p7Vp+S9Q7lY68EzviOZIgCHhfZrHu1GjJpbSgr8ZzLT0DKX73nI0vuHSxdSIAarGgfWL61R2"
    "19Nu3hhwKOs3rtPoy/xdqDTfGCU5JqtPWYP1ToUtGF/QGizXyppNjSdklLgt3DHMs4tFrqf7fXAqrsf3ZkrAmPpDABeiH0mN9gTp4Aal"
    "SsunTBkNH8Ba8VKBQQKBgQDYPdOD08K7nLoKcPqk8EwSyO1wWZ+1+SFLgRWmXtkKCmkY1/q46SAvkO27JbbduTU2i9dhaSAqh8hkLgsv"
    "mlC437ykUItQByVJh/0Mr4CL12nAjNQk1q4dGUMkozi5/YiZuHf2oDEbPgtT6G+OGe88j6F6274yn0b6UZW4mliV5QKBgQDVzYXK4sC8"
    "59wRzsFMjVKD49hzx9qaiyYKEPfrLdrKvt9F9CEUUFHreEDKuZRhC46rQxnYeOReeK6goSQcTnsFFigfWjp8c00l4oNAqKVWSmiOfqW8"
    "6U0n4wp4kYmJDNbl659iyDU4v80G13cGUQMmMG3paD4J9NwKAFv11OVdvwKBgQDQlireobjY4mBuy/ZqfcTT5e9rjXhKv2rHe1fX6Ovx"
    "DIO+TC/0iCPc3i8DdGjFze6vlAsJUq+Ndvbs86EkpPUyr9c2pN8NLidgm4WT5ALaYcsHypCkjFTdis3CnJOOjSpkJZXKV1GnFp00riRV"
    "bVzhDSdV7Hu2Nv/vXB1ROckzpQKBgQC6hsuq7ZjpNf8xKghKGSFcH3O/zyRQoAVX0uX4L9EqAMwZ45rYdhqCLC+arb1dzQ9zKt9plE7o"
    "fLEdQniWmYGKNoJamAVefdlYq/2Gc5uLZO9DIgrGfWPq4JFKDu7GuoThomczbye/ktX0mhYlVJhCwQ2jDGbTmOQ/dYDFQC+7UQKBgQC+"
    "bOBAoRboZieZvilqBGY1VUQqDEPEFTm0iJz0+kLice/NIt8uQo5pATvWvMQKk08E2SiHUH6vKdzbej9KjaF6KQfX70kg95qPa7gxIjM3"
    "KApfPTV/+eh1d7Gteq4beHim6OUqMo0RrW2wo4asjrgX+1zyq/N+roYhj8kb57/CKg=="
)


class AuthSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AUTH_", extra="ignore")

    service_name: ClassVar[str] = "auth"
    secret_fields: ClassVar[tuple[str, ...]] = (*ServiceSettings.secret_fields, "token_pepper")
    public_url_fields: ClassVar[tuple[str, ...]] = ("issuer",)
    port: int = 8001

    # Ed25519 signing keys: JSON {"kid": "<base64 of the 32-byte private key>"}; the active one signs,
    # every one in the ring verifies (rotation: add the new key, make it active, drop the old one
    # after the longest access-token lifetime).
    signing_keys: SecretStr = SecretStr(DEV_SIGNING_KEYS)
    active_signing_key_id: str = "dev-ed25519-1"
    # RSA keys that sign OpenID Connect ID tokens (RS256, the algorithm every OP must support: OIDC Core 15.1):
    # JSON {"kid": "<PEM, or base64 of the DER private key>"}, at least 2048 bits; rotated like signing_keys.
    id_token_keys: SecretStr = SecretStr(f'{{"{DEV_ID_TOKEN_KEY_ID}": "{DEV_ID_TOKEN_KEY}"}}')
    active_id_token_key_id: str = DEV_ID_TOKEN_KEY_ID
    # Keyed hash of opaque tokens (refresh, challenge, client secrets) at rest.
    token_pepper: SecretStr = SecretStr(DEV_TOKEN_PEPPER)

    issuer: str = "http://127.0.0.1:8000"
    audience: str = "twofold"
    # NIST SP 800-63B, AAL2: a session ends after 30 minutes without activity and 12 hours after sign-in.
    # The gateway checks only an access token's exp, so a token lives at most the idle timeout and never
    # past its session's end; refresh tokens never outlive their session either.
    access_token_seconds: int = Field(default=900, ge=1)
    session_idle_seconds: int = Field(default=30 * 60, ge=1)
    session_seconds: int = Field(default=12 * 3600, ge=1)
    refresh_token_seconds: int = Field(default=12 * 3600, ge=1)
    setup_token_seconds: int = 1800
    challenge_seconds: int = 300
    # codes (TOTP or recovery) tried against one login challenge before the password is asked again
    challenge_attempts: int = Field(default=5, ge=1, le=100)

    # argon2id (RFC 9106 / OWASP): 19 MiB, 2 passes, 1 lane
    argon2_memory_kib: int = 19_456
    argon2_time_cost: int = 2
    argon2_parallelism: int = 1
    # hashes computed at once: about the CPU cores the process may use (each holds argon2_memory_kib)
    password_hash_threads: int = Field(default=2, ge=1, le=64)
    # nice steps the hashing threads run below the event loop (passwords.py): for a pod of its own, where they
    # compete only with auth's loop; 0 where the services share one CPU group (measured: 10 halved logins/s)
    password_hash_niceness: int = Field(default=0, ge=0, le=19)

    # (the second factor's attempt limit and lockout are the vault's: VAULT_ATTEMPT_LIMIT and the others)

    # Password guesses (failures, and checks still running): per account and source, per source across
    # accounts, and per account across the sources that never gave its right password (docs/auth.md).
    password_attempt_limit: int = Field(default=5, ge=1)
    password_attempt_window_seconds: int = Field(default=900, ge=1)
    password_source_limit: int = Field(default=20, ge=1)
    password_account_limit: int = Field(default=50, ge=1)
    password_account_window_seconds: int = Field(default=3600, ge=1)

    # register answers 202 alike for new and known emails; the owner hears of it by an event (docs/auth.md)
    conceal_registered_emails: bool = False

    # seed 002's deep link to the authenticator provider
    provider_base_url: str = "https://legitate.com/dashboard/simple-totp"
    service_display_name: str = "twofold"

    # OpenID Connect: how long an authorization code may wait for its exchange (RFC 6749 4.1.2: short, at most
    # ten minutes; apps exchange it at once)
    oidc_code_seconds: int = Field(default=60, ge=1, le=600)

    # how often logout tokens due are sent to apps (back-channel logout): an app hears of a session's end this soon
    backchannel_logout_interval_seconds: float = Field(default=1.0, gt=0)

    vault_url: str = "http://127.0.0.1:8003"
    cleanup_interval_seconds: float = 300.0
    # how long a new audit row waits to be chained (and is open to an undetected edit)
    audit_seal_interval_seconds: float = Field(default=1.0, gt=0)

    @model_validator(mode="after")
    def _signing_keys_are_real(self) -> "AuthSettings":
        if self.production and self.signing_keys.get_secret_value() == DEV_SIGNING_KEYS:
            raise SettingsError(f"{self.env_name('signing_keys')} must be set in production (the default is public)")
        return self

    @model_validator(mode="after")
    def _id_token_keys_are_real(self) -> "AuthSettings":
        from .oidc.keys import read_id_token_keys  # cryptography only, kept out of --help

        read_id_token_keys(self)  # malformed or weak keys stop any start
        return self

    @model_validator(mode="after")
    def _sessions_are_bounded(self) -> "AuthSettings":
        if self.access_token_seconds > self.session_idle_seconds:
            raise SettingsError(f"{self.env_name('access_token_seconds')} must not exceed "
                                f"{self.env_name('session_idle_seconds')}: the gateway ends idle sessions by exp")
        if self.session_idle_seconds > self.session_seconds:
            raise SettingsError(f"{self.env_name('session_idle_seconds')} must not exceed "
                                f"{self.env_name('session_seconds')}")
        return self


EVENT_SOURCE = f"/{AuthSettings.service_name}"
