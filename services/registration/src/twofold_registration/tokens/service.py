"""Registration tokens: created by setup-2fa, ended once by the provider's callback, a confirmation,
the expiry sweeper or the user's deletion.  Each end is one guarded status change plus its event."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from twofold_common import redirect_signature
from twofold_common.access_tokens import FIRST_ENROLLMENT
from twofold_common.db import Database
from twofold_common.errors import Conflict, Forbidden, NotFound, Problem, TooManyRequests
from twofold_common.events import (
    CloudEvent,
    RegistrationCompleted,
    RegistrationExpired,
    RegistrationRejected,
    TwoFactorReset,
    UserDeleted,
)
from twofold_common.outbox import publish

from ..peers import AlreadyEnrolled, App, Apps, Vault
from ..settings import EVENT_SOURCE, RegistrationSettings
from . import repository
from .schemas import ConfirmSetup, RegistrationStatus, SetupCompleted, SetupResumed, SetupStarted, StartSetup


@dataclass(frozen=True)
class Starter:
    """Who starts an enrollment: a person (setup token or session) or a third-party app (API key)."""

    user_id: uuid.UUID | None = None
    email: str | None = None
    client_id: str | None = None
    # a person's setup token says what it may enroll (first | replace); None for a session's access token
    enrollment: str | None = None


class RegistrationGone(Problem):
    status, code, title = 410, "registration-expired", "The registration has expired"


class RegistrationUsed(Conflict):
    code, title = "registration-used", "The registration was already completed or rejected"


def vault_subject(row: Mapping) -> str:
    """Whose seed it is, in the vault's terms: a user id, or ``<client_id>:<account>``."""
    return str(row["user_id"]) if row["user_id"] else f"{row['client_id']}:{row['account']}"


def _subject_fields(row: RowMapping) -> dict:
    return {"registration_id": row["id"], "user_id": row["user_id"], "client_id": row["client_id"],
            "account": row["account"]}


async def find(session: AsyncSession, token: str) -> tuple[RowMapping, str]:
    """The registration of ``token`` and its status.  A pending one past its expiry is marked expired
    here (seed 000): the caller commits that, then refuses (``refuse``)."""
    row = await repository.by_token(session, token)
    if row is None:
        raise NotFound("Registration token not found.", code="registration-not-found")
    status = row["status"]
    if status == "pending" and row["expires_at"] <= datetime.now(UTC):
        if await repository.transition(session, row["id"], "expired", status_reason="overdue"):
            await publish(session, RegistrationExpired(**_subject_fields(row)), source=EVENT_SOURCE)
        status = "expired"
    return row, status


def refuse(status: str) -> NoReturn:
    """The answer to a callback or a confirmation of a registration that is no longer pending."""
    if status == "expired":
        raise RegistrationGone("The registration token has expired; start the setup again.")
    raise RegistrationUsed(f"The registration is already {status}.")


@dataclass(frozen=True)
class Enrollments:
    db: Database
    settings: RegistrationSettings
    vault: Vault
    apps: Apps

    def deep_link(self, *, account: str, token: str, service: str | None = None) -> str:
        """Seed 001's link to the provider's page; every value URL-encoded.  ``service`` is the name the
        authenticator shows (an app's display name; ours by default)."""
        query = urlencode({"action": "add", "service": service or self.settings.service_display_name,
                           "account": account, "callback": self.settings.callback_url, "regToken": token},
                          quote_via=quote)
        return f"{self.settings.provider_base_url}?{query}"

    async def start(self, session: AsyncSession, starter: Starter, body: StartSetup) -> SetupStarted:
        if starter.client_id is not None:
            app = await self.apps.get(starter.client_id)
            if not body.account:
                raise Problem("Apps name their user with ``account``.", code="account-required", status=422)
            if body.callback_url is not None and body.callback_url not in app.callback_urls:
                # exact match only: no prefixes, no host suffixes, no open redirects
                raise Forbidden("callbackUrl is not one of this app's registered callback URLs.",
                                code="callback-url-not-registered")
            subject: dict[str, Any] = {"client_id": app.client_id, "account": body.account, "email": body.email}
            account = body.email or body.account
            enrollment = "add"
            service_name = app.name  # the person enrolls for the app: its name is what they look for
        else:
            if body.callback_url is not None:
                raise Problem("callbackUrl is for third-party apps.", code="callback-url-not-allowed", status=422)
            enrollment = await self._person_enrollment(starter)
            subject = {"user_id": starter.user_id, "email": starter.email}
            account = starter.email or str(starter.user_id)
            service_name = None  # ours, as configured

        token, token_hash = repository.new_token()
        registration_id = uuid.uuid4()
        expires_at = datetime.now(UTC) + timedelta(seconds=self.settings.token_ttl_seconds)
        await repository.insert(session, id=registration_id, token_hash=token_hash, provider=body.provider,
                                service_name=service_name or self.settings.service_display_name,
                                callback_url=body.callback_url,
                                enrollment=enrollment, status="pending", expires_at=expires_at, **subject)
        if body.provider == "native":
            owner = vault_subject({"user_id": None, "client_id": None, "account": None, **subject})
            seed = await self.vault.generate(subject=owner, account=account, registration_id=registration_id,
                                             issuer=service_name)
            await repository.set_seed(session, registration_id, seed.seed_id)
            return SetupStarted(registration_token=token, provider="native", expires_at=expires_at,
                                otpauth_uri=seed.otpauth_uri, qr_svg=seed.qr_svg)
        return SetupStarted(registration_token=token, provider="legitate", expires_at=expires_at,
                            deep_link=self.deep_link(account=account, token=token, service=service_name))

    async def _person_enrollment(self, starter: Starter) -> str:
        """A person enrolls with a setup token only: ``first`` while the account has no authenticator
        (so the token is spent once an enrollment completes), ``replace`` after a fresh code. A session's
        access token alone cannot add an authenticator."""
        if starter.enrollment is None:
            raise Forbidden("Enrollment starts with a setup token. To add or replace an authenticator, use "
                            "POST /api/auth/2fa/re-enroll with a current code.", code="setup-token-required")
        if starter.enrollment == FIRST_ENROLLMENT and await self.vault.has_authenticator(str(starter.user_id)):
            raise AlreadyEnrolled()
        return starter.enrollment

    async def resume(self, session: AsyncSession, token: str) -> SetupResumed:
        """The way on for the holder of a registration token (the pages, sent there by an app or coming back
        to a step): what ``start`` answered, again. A pending native registration's seed is the one the vault
        made for it (its generation is idempotent per registration)."""
        row, status = await find(session, token)
        resumed = SetupResumed.model_validate({"status": status, "provider": row["provider"],
                                               "expires_at": row["expires_at"], "client_id": row["client_id"],
                                               "service_name": row["service_name"]})
        if status != "pending":
            return resumed
        account = row["email"] or row["account"] or str(row["user_id"])
        issuer = row["service_name"] if row["client_id"] else None  # as start named it
        if row["provider"] == "native":
            seed = await self.vault.generate(subject=vault_subject(row), account=account, registration_id=row["id"],
                                             issuer=issuer)
            return resumed.model_copy(update={"otpauth_uri": seed.otpauth_uri, "qr_svg": seed.qr_svg})
        return resumed.model_copy(update={"deep_link": self.deep_link(account=account, token=token, service=issuer)})

    async def confirm_native(self, body: ConfirmSetup) -> SetupCompleted:
        """A workflow of two transactions on purpose: the attempt is counted and committed before the code
        is checked, so it counts even when the code then proves wrong (and parallel attempts cannot pass
        the limit); the completion is the second."""
        async with self.db.transaction() as session:
            row, status = await find(session, body.registration_token)
            if status == "pending" and (row["provider"] != "native" or row["seed_id"] is None):
                raise Problem("Only native enrollments are confirmed with a code.", code="not-native", status=409)
            retry_after = 0 if status != "pending" else await repository.count_confirmation(
                session, row["id"], limit=self.settings.confirm_attempt_limit,
                window=timedelta(seconds=self.settings.confirm_attempt_window_seconds))
        if status != "pending":
            refuse(status)
        if retry_after:
            raise TooManyRequests("Too many codes tried; try again later.", retry_after=retry_after)
        async with self.db.transaction() as session:
            row = await lock_pending(session, row)
            enrolled = await self.vault.confirm(row["seed_id"], body.code, enrollment=row["enrollment"])
            done = await complete(session, row, seed_id=row["seed_id"], external_seed_id=None)
        redirect = None
        if row["client_id"] and row["callback_url"]:
            redirect = signed_redirect(await self.apps.get(row["client_id"]), row["callback_url"],
                                       reg_token=body.registration_token, success=True, seed_id=str(row["seed_id"]))
        return SetupCompleted(**status_of(done).model_dump(), recovery_codes=enrolled.recovery_codes,
                              redirect_to=redirect)


def signed_redirect(app: App, callback_url: str, *, reg_token: str, success: bool, seed_id: str | None = None,
                    error: str | None = None) -> str:
    """Back to the app that started a registration: its callback URL with the outcome, signed with the app's
    key (``twofold_common.redirect_signature``), never with the seed."""
    query = {"regToken": reg_token, "success": "true" if success else "false",
             "timestamp": str(int(time.time() * 1000))}
    if seed_id:
        query["seedId"] = seed_id
    if error and not success:
        query["error"] = error[:200]
    query["signature"] = redirect_signature.sign(app.redirect_key, query)
    parts = urlsplit(callback_url)
    joined = f"{parts.query}&{urlencode(query)}" if parts.query else urlencode(query)
    return urlunsplit(parts._replace(query=joined))


async def complete(session: AsyncSession, row: RowMapping, *, seed_id: str, external_seed_id: str | None) -> RowMapping:
    now = datetime.now(UTC)
    done = await repository.transition(session, row["id"], "completed", seed_id=seed_id,
                                       external_seed_id=external_seed_id, completed_at=now)
    if done is None:
        raise RegistrationUsed("The registration was completed or rejected meanwhile.")
    await publish(session, RegistrationCompleted(
        **_subject_fields(row), provider=row["provider"], seed_id=external_seed_id or seed_id, completed_at=now,
    ), source=EVENT_SOURCE)
    return done


async def reject(session: AsyncSession, row: RowMapping, reason: str) -> RowMapping:
    done = await repository.transition(session, row["id"], "rejected", status_reason=reason[:64])
    if done is None:
        raise RegistrationUsed("The registration was completed or rejected meanwhile.")
    await publish(session, RegistrationRejected(**_subject_fields(row), reason=reason[:64]), source=EVENT_SOURCE)
    return done


async def lock_pending(session: AsyncSession, row: RowMapping) -> RowMapping:
    """Hold the registration while it completes; one that ended meanwhile is a conflict."""
    locked = await repository.lock_pending(session, row["id"])
    if locked is None:
        raise RegistrationUsed("The registration was completed or rejected meanwhile.")
    return locked


async def started_by(session: AsyncSession, token: str, starter: Starter) -> RowMapping:
    """The registration of ``token`` if ``starter`` started it: anyone else learns nothing, not even that
    it exists."""
    row = await repository.by_token(session, token)
    if row is None or (row["client_id"] is not None and row["client_id"] != starter.client_id) or (
        row["user_id"] is not None and row["user_id"] != starter.user_id
    ):
        raise NotFound("Registration token not found.", code="registration-not-found")
    return row


async def read_status(session: AsyncSession, token: str, starter: Starter) -> RegistrationStatus:
    return status_of(await started_by(session, token, starter))


def status_of(row: RowMapping) -> RegistrationStatus:
    return RegistrationStatus(status=row["status"], provider=row["provider"], account=row["account"],
                              seed_id=row["external_seed_id"] or row["seed_id"], created_at=row["created_at"],
                              expires_at=row["expires_at"], completed_at=row["completed_at"])


async def expire_overdue(session: AsyncSession) -> int:
    """The periodic sweeper: pending tokens past their expiry become ``expired``, each with its event."""
    rows = await repository.expire_overdue(session, datetime.now(UTC))
    for row in rows:
        await publish(session, RegistrationExpired(**_subject_fields(row)), source=EVENT_SOURCE)
    return len(rows)


async def on_user_deleted(session: AsyncSession, event: UserDeleted, envelope: CloudEvent) -> None:
    for row in await repository.cancel_pending_of_user(session, event.user_id, "user-deleted"):
        await publish(session, RegistrationExpired(**_subject_fields(row)), source=EVENT_SOURCE)


async def on_two_factor_reset(session: AsyncSession, event: TwoFactorReset, envelope: CloudEvent) -> None:
    """An operator reset the user's 2FA: an enrollment started before it ends (it may have been started by
    whoever the reset locks out); one started after it, by the person enrolling anew, goes on."""
    for row in await repository.cancel_pending_of_user(session, event.user_id, "2fa-reset",
                                                       created_before=envelope.time):
        await publish(session, RegistrationExpired(**_subject_fields(row)), source=EVENT_SOURCE)
