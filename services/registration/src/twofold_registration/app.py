from fastapi import FastAPI

from twofold_common.events import REGISTRATION_TOPIC, Event, TwoFactorReset, UserDeleted
from twofold_common.runtime import Runtime, create_service_app

from . import deps
from .callback import endpoints as callback
from .callback.repository import delete_expired as delete_expired_pickups
from .settings import RegistrationSettings
from .tokens import endpoints as tokens
from .tokens.service import expire_overdue, on_two_factor_reset, on_user_deleted


def create_app(settings: RegistrationSettings | None = None) -> FastAPI:
    settings = settings or RegistrationSettings()

    async def start(runtime: Runtime) -> None:
        runtime.state["http"] = await deps.prepare(runtime)
        runtime.every(settings.sweep_interval_seconds, "registration-expiry", expire_overdue)
        runtime.every(settings.sweep_interval_seconds, "seed-pickup-expiry", delete_expired_pickups)

    async def stop(runtime: Runtime) -> None:
        for http in runtime.state["http"]:
            await http.aclose()

    return create_service_app(
        settings,
        title="twofold registration",
        routers=[tokens.router, tokens.apps_router, callback.apps_router, callback.router],
        handlers={UserDeleted: on_user_deleted, TwoFactorReset: on_two_factor_reset},
        publishes=[cls for cls in Event.registry.values() if cls.topic == REGISTRATION_TOPIC],
        on_start=start,
        on_stop=stop,
    )
