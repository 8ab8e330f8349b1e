from fastapi import FastAPI

from twofold_common.events import RecoveryCodeUsed, SeedRevoked, SeedStored
from twofold_common.runtime import create_service_app

from . import deps
from .events import HANDLERS
from .recovery.endpoints import router as recovery_router
from .seeds.endpoints import router as seeds_router
from .settings import VaultSettings
from .subjects.endpoints import router as subjects_router


def create_app(settings: VaultSettings | None = None) -> FastAPI:
    return create_service_app(
        settings or VaultSettings(),
        title="Twofold TOTP vault",
        routers=[seeds_router, recovery_router, subjects_router],
        handlers=HANDLERS,
        publishes=[SeedStored, SeedRevoked, RecoveryCodeUsed],
        on_start=deps.prepare,
    )
