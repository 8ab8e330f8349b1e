from fastapi import FastAPI

from twofold_common.access_tokens import TokenVerifier
from twofold_common.events import REGISTRATION_TOPIC, Event, UserDeleted
from twofold_common.runtime import Runtime, create_service_app

from .callback import endpoints as callback
from .callback import pickup
from .deps import Registration
from .peers import Apps, Vault
from .settings import RegistrationSettings
from .tokens import endpoints as tokens
from .tokens.service import expire_overdue, on_user_deleted


def create_app(settings: RegistrationSettings | None = None) -> FastAPI:
    settings = settings or RegistrationSettings()

    async def start(runtime: Runtime) -> None:
        auth_http = runtime.internal_auth.client("auth", settings.auth_url)
        vault_http = runtime.internal_auth.client("vault", settings.vault_url, timeout=10)
        runtime.state["http"] = [auth_http, vault_http]
        runtime.state["registration"] = Registration(
            settings=settings,
            db=runtime.database,
            verifier=TokenVerifier(issuer=settings.token_issuer, audience=settings.token_audience,
                                   jwks_url="/.well-known/jwks.json", http=auth_http),
            vault=Vault(vault_http),
            apps=Apps(auth_http),
        )
        runtime.every(settings.sweep_interval_seconds, "registration-expiry", expire_overdue)
        runtime.every(settings.sweep_interval_seconds, "seed-pickup-expiry", pickup.delete_expired)

    async def stop(runtime: Runtime) -> None:
        for http in runtime.state["http"]:
            await http.aclose()

    return create_service_app(
        settings,
        title="twofold registration",
        routers=[tokens.router, tokens.apps_router, callback.router],
        handlers={UserDeleted: on_user_deleted},
        publishes=[cls for cls in Event.registry.values() if cls.topic == REGISTRATION_TOPIC],
        on_start=start,
        on_stop=stop,
    )
