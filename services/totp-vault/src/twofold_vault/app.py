from datetime import UTC, datetime, timedelta
from typing import cast

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from twofold_common.events import RecoveryCodeUsed, SeedRevoked, SeedStored
from twofold_common.runtime import Runtime, create_service_app

from . import deps
from .checks import repository as checks
from .checks.endpoints import apps_router as checks_apps_router
from .checks.endpoints import router as checks_router
from .events import HANDLERS
from .recovery.endpoints import router as recovery_router
from .seeds.endpoints import router as seeds_router
from .settings import VaultSettings
from .subjects.endpoints import router as subjects_router


def create_app(settings: VaultSettings | None = None) -> FastAPI:
    settings = settings or VaultSettings()
    retention = timedelta(seconds=settings.attempt_retention_seconds)

    async def delete_old_checks(session: AsyncSession) -> int:
        return await checks.delete_old(session, datetime.now(UTC) - retention)

    async def start(runtime: Runtime) -> None:
        await deps.prepare(runtime)
        runtime.every(cast(VaultSettings, runtime.settings).cleanup_interval_seconds, "vault-cleanup",
                      delete_old_checks)

    return create_service_app(
        settings,
        title="Twofold TOTP vault",
        routers=[seeds_router, recovery_router, subjects_router, checks_router, checks_apps_router],
        handlers=HANDLERS,
        publishes=[SeedStored, SeedRevoked, RecoveryCodeUsed],
        on_start=start,
    )
