"""The provider's callback (seed 001): validate, hand the seed to the vault, complete, send the person on.

The seed goes from the callback's query string to the vault and nowhere else:
not to the database, not into an event, not into the redirect to the app;
except for an app that opted into seed 001's pickup (``seedMode``): then it
waits sealed with AES-GCM (associated data: the registration id) for one
server-to-server fetch, which deletes it, and is swept when nobody came for it.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from twofold_common.db import Database
from twofold_common.errors import Problem

from ..peers import App, Apps, Vault
from ..settings import RegistrationSettings
from ..tokens import service as tokens
from ..tokens.service import Starter
from . import repository


@dataclass(frozen=True)
class CallbackParams:
    success: bool
    reg_token: str
    seed: str | None
    code: str | None
    seed_id: str | None
    timestamp: int  # required by the endpoint's schema (a missing one is a 422)
    error: str | None


@dataclass(frozen=True)
class Outcome:
    success: bool
    redirect_to: str | None
    message: str
    recovery_codes: list[str] | None = None  # a first enrollment's, shown once on the landing page


@dataclass(frozen=True)
class Callbacks:
    db: Database
    settings: RegistrationSettings
    vault: Vault
    apps: Apps

    def check_timestamp(self, timestamp_ms: int) -> None:
        age = time.time() - timestamp_ms / 1000
        if age > self.settings.callback_max_age_seconds or -age > self.settings.callback_future_skew_seconds:
            raise Problem(f"The callback must be at most {self.settings.callback_max_age_seconds} s old.",
                          code="stale-callback", title="The callback is too old or from the future")

    async def handle(self, params: CallbackParams) -> Outcome:
        """One transaction, which a refusal of an overdue registration commits (its expiry stays).

        The registration stays locked from before the vault's commit to ours: parallel callbacks wait
        and then find it completed (409); if this process dies in between, the row is still pending,
        and the next callback's seed supersedes the one the vault kept (see SeedVault.store)."""
        async with self.db.transaction() as session:
            row, status = await tokens.find(session, params.reg_token)
            if status == "pending":
                return await self._pending(session, row, params)
        tokens.refuse(status)

    async def _pending(self, session: AsyncSession, row: RowMapping, params: CallbackParams) -> Outcome:
        self.check_timestamp(params.timestamp)
        app = await self.apps.get(row["client_id"]) if row["client_id"] else None
        row = await tokens.lock_pending(session, row)
        if not params.success:
            await tokens.reject(session, row, params.error or "rejected-by-user")
            return Outcome(False, _app_redirect(app, row, params, seed_id=None),
                           "The authenticator setup was declined.")
        if not (params.seed and params.code and params.seed_id):
            raise Problem("A successful callback carries seed, code and seedId.", code="incomplete-callback",
                          title="The callback lacks a required parameter")
        enrolled = await self.vault.store(
            subject=tokens.vault_subject(row), seed=params.seed, code=params.code,
            external_seed_id=params.seed_id, registration_id=row["id"], enrollment=row["enrollment"],
        )
        await tokens.complete(session, row, seed_id=enrolled.seed_id, external_seed_id=params.seed_id)
        if app is not None and app.seed_mode:
            await self._keep_seed(session, row["id"], params.seed)
        return Outcome(True, _app_redirect(app, row, params, seed_id=params.seed_id),
                       "Two-factor authentication is set up. You can close this window.", enrolled.recovery_codes)

    async def _keep_seed(self, session: AsyncSession, registration_id: uuid.UUID, seed: str) -> None:
        nonce = os.urandom(12)
        sealed = nonce + AESGCM(self.settings.pickup_key()).encrypt(nonce, seed.encode(), registration_id.bytes)
        expires_at = datetime.now(UTC) + timedelta(seconds=self.settings.seed_pickup_seconds)
        await repository.insert(session, registration_id=registration_id, sealed_seed=sealed, expires_at=expires_at)

    async def take_seed(self, session: AsyncSession, token: str, starter: Starter) -> tuple[str, str]:
        """Seed mode: the seed and the provider's seed id, once; the pickup is deleted as it is read."""
        row = await tokens.started_by(session, token, starter)  # starter is an app (the endpoint made sure)
        sealed = await repository.take(session, row["id"])
        if sealed is None:
            raise Problem("The seed can be fetched once, within minutes of the setup.", status=410, code="seed-gone",
                          title="The seed was already fetched or its time ran out")
        seed = AESGCM(self.settings.pickup_key()).decrypt(sealed[:12], sealed[12:], row["id"].bytes).decode()
        return seed, row["external_seed_id"]


def _app_redirect(app: App | None, row: RowMapping, params: CallbackParams, *, seed_id: str | None) -> str | None:
    """Back to the app that started it, when it named a callback URL."""
    if app is None or not row["callback_url"]:
        return None
    return tokens.signed_redirect(app, row["callback_url"], reg_token=params.reg_token, success=params.success,
                                  seed_id=seed_id, error=params.error)
