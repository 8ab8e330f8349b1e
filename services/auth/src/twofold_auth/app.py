from fastapi import APIRouter, FastAPI

from twofold_common.events import AUTH_CLIENTS_TOPIC, AUTH_TOPIC, Event, RegistrationCompleted, SessionRevoked
from twofold_common.runtime import Runtime, create_service_app

from . import deps
from .accounts import endpoints as accounts
from .accounts.service import on_registration_completed
from .admin import endpoints as admin
from .audit import endpoints as audit
from .audit.service import seal
from .cleanup import delete_expired
from .clients import endpoints as clients
from .login import endpoints as login
from .oidc import endpoints as oidc
from .oidc.backchannel import on_session_revoked
from .oidc.keys import read_id_token_keys
from .sessions import endpoints as sessions
from .settings import AuthSettings
from .tokens import SigningKeyRing


def create_app(settings: AuthSettings | None = None) -> FastAPI:
    settings = settings or AuthSettings()
    ring = SigningKeyRing.from_settings(settings)
    id_token_keys = read_id_token_keys(settings)
    jwks_router = APIRouter(tags=["keys"])
    public_keys = {"keys": ring.jwks()["keys"] + id_token_keys.jwks()}

    @jwks_router.get("/.well-known/jwks.json")
    async def jwks() -> dict:
        """Public keys that verify access tokens (EdDSA) and ID tokens (RS256); several during a rotation."""
        return public_keys

    async def start(runtime: Runtime) -> None:
        runtime.state["vault_http"], logouts = await deps.prepare(runtime, ring, id_token_keys)
        runtime.state["backchannel_logout"] = logouts
        runtime.every(settings.cleanup_interval_seconds, "auth-cleanup", delete_expired)
        runtime.every(settings.audit_seal_interval_seconds, "audit-seal", seal)
        runtime.every(settings.backchannel_logout_interval_seconds, "backchannel-logout", logouts.deliver_due)

    async def stop(runtime: Runtime) -> None:
        await runtime.state["vault_http"].aclose()
        await runtime.state["backchannel_logout"].aclose()

    publishes: list[type[Event]] = [cls for cls in Event.registry.values()
                                    if cls.topic in (AUTH_TOPIC, AUTH_CLIENTS_TOPIC)]
    return create_service_app(
        settings,
        title="twofold auth",
        routers=[accounts.router, audit.router, login.router, sessions.router,
                 accounts.admin_router, audit.admin_router, admin.router, clients.router, jwks_router,
                 oidc.discovery_router, oidc.pages_router, oidc.router],
        handlers={RegistrationCompleted: on_registration_completed, SessionRevoked: on_session_revoked},
        publishes=publishes,
        on_start=start,
        on_stop=stop,
    )
