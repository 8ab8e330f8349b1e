from fastapi import APIRouter, FastAPI

from twofold_common.access_tokens import TokenVerifier
from twofold_common.events import AUTH_TOPIC, Event, RegistrationCompleted
from twofold_common.runtime import Runtime, RuntimeDep, create_service_app

from . import audit
from .accounts import endpoints as accounts
from .accounts.service import on_registration_completed
from .attempts import AttemptLimiter, PasswordLimiter
from .cleanup import delete_expired
from .clients import endpoints as clients
from .deps import Auth
from .login import endpoints as login
from .passwords import Passwords
from .sessions import endpoints as sessions
from .settings import AuthSettings
from .tokens import SigningKeyRing, TokenHasher, TokenIssuer
from .vault import VaultClient

jwks_router = APIRouter(tags=["keys"])


@jwks_router.get("/.well-known/jwks.json")
async def jwks(runtime: RuntimeDep) -> dict:
    """Public keys that verify access tokens; several during a key rotation."""
    return runtime.state["auth"].issuer.ring.jwks()


def create_app(settings: AuthSettings | None = None) -> FastAPI:
    settings = settings or AuthSettings()
    ring = SigningKeyRing.from_settings(settings)

    async def start(runtime: Runtime) -> None:
        vault_http = runtime.internal_auth.client("vault", settings.vault_url)
        runtime.state["vault_http"] = vault_http
        runtime.state["auth"] = Auth(
            settings=settings,
            db=runtime.database,
            passwords=Passwords(settings),
            issuer=TokenIssuer(settings, ring),
            hasher=TokenHasher(settings.token_pepper.get_secret_value()),
            verifier=TokenVerifier(issuer=settings.issuer, audience=settings.audience, jwks=ring.jwks()),
            limiter=AttemptLimiter(settings),
            vault=VaultClient(vault_http),
            password_limiter=PasswordLimiter(settings),
        )
        runtime.every(settings.cleanup_interval_seconds, "auth-cleanup", delete_expired)
        runtime.every(settings.audit_seal_interval_seconds, "audit-seal", audit.seal)

    async def stop(runtime: Runtime) -> None:
        await runtime.state["vault_http"].aclose()

    publishes: list[type[Event]] = [cls for cls in Event.registry.values() if cls.topic == AUTH_TOPIC]
    return create_service_app(
        settings,
        title="twofold auth",
        routers=[accounts.router, login.router, login.apps_router, sessions.router, accounts.admin_router,
                 clients.router, jwks_router],
        handlers={RegistrationCompleted: on_registration_completed},
        publishes=publishes,
        on_start=start,
        on_stop=stop,
    )
