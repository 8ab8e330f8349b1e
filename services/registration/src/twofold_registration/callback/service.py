"""The provider's callback (seed 001): validate, hand the seed to the vault, complete, send the person on.

The seed goes from the callback's query string to the vault and nowhere else:
not to the database, not into an event, not into the redirect to the app.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

from twofold_common import redirect_signature
from twofold_common.errors import Problem

from ..deps import Registration
from ..peers import App
from ..tokens import service as tokens
from . import pickup


class StaleCallback(Problem):
    status, code, title = 400, "stale-callback", "The callback is too old or from the future"


class IncompleteCallback(Problem):
    status, code, title = 400, "incomplete-callback", "The callback lacks a required parameter"


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


def check_timestamp(registration: Registration, timestamp_ms: int) -> None:
    age = time.time() - timestamp_ms / 1000
    settings = registration.settings
    if age > settings.callback_max_age_seconds or -age > settings.callback_future_skew_seconds:
        raise StaleCallback(f"The callback must be at most {settings.callback_max_age_seconds} s old.")


async def handle(registration: Registration, params: CallbackParams) -> Outcome:
    row = await tokens.open_pending(registration, params.reg_token)
    check_timestamp(registration, params.timestamp)
    app = await registration.apps.get(row["client_id"]) if row["client_id"] else None
    if not params.success:
        async with registration.db.transaction() as session:
            await tokens.reject(session, row, params.error or "rejected-by-user")
        return Outcome(False, _app_redirect(app, row, params, seed_id=None), "The authenticator setup was declined.")
    if not (params.seed and params.code and params.seed_id):
        raise IncompleteCallback("A successful callback carries seed, code and seedId.")
    # The registration stays locked from the vault's commit to ours: parallel callbacks wait and then
    # find it completed (409); if this process dies in between, the row is still pending, and the next
    # callback's seed supersedes the one the vault kept (see SeedVault.store).
    async with registration.db.transaction() as session:
        row = await tokens.lock_pending(session, row)
        enrolled = await registration.vault.store(
            subject=tokens.vault_subject(row), seed=params.seed, code=params.code,
            external_seed_id=params.seed_id, registration_id=row["id"], enrollment=row["enrollment"],
        )
        await tokens.complete(session, row, seed_id=enrolled.seed_id, external_seed_id=params.seed_id)
        if app is not None and app.seed_mode:
            await pickup.keep(session, registration, row["id"], params.seed)
    return Outcome(True, _app_redirect(app, row, params, seed_id=params.seed_id),
                   "Two-factor authentication is set up. You can close this window.", enrolled.recovery_codes)


def _app_redirect(app: App | None, row, params: CallbackParams, *, seed_id: str | None) -> str | None:
    """Back to the app that started it: signed with its key, never with the seed."""
    if app is None or not row["callback_url"]:
        return None
    query = {"regToken": params.reg_token, "success": "true" if params.success else "false",
             "timestamp": str(int(time.time() * 1000))}
    if seed_id:
        query["seedId"] = seed_id
    if params.error and not params.success:
        query["error"] = params.error[:200]
    query["signature"] = redirect_signature.sign(app.redirect_key, query)
    parts = urlsplit(row["callback_url"])
    joined = f"{parts.query}&{urlencode(query)}" if parts.query else urlencode(query)
    return urlunsplit(parts._replace(query=joined))
