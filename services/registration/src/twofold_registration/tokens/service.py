"""Registration tokens: created by setup-2fa, ended once by the provider's callback, a confirmation,
the expiry sweeper or the user's deletion.  Each end is one guarded status change plus its event."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from twofold_common.access_tokens import FIRST_ENROLLMENT
from twofold_common.errors import Conflict, Forbidden, NotFound, Problem, TooManyRequests
from twofold_common.events import (
    CloudEvent,
    RegistrationCompleted,
    RegistrationExpired,
    RegistrationRejected,
    UserDeleted,
)
from twofold_common.outbox import publish

from ..deps import Registration, Starter
from ..peers import AlreadyEnrolled
from . import repository
from .schemas import ConfirmSetup, RegistrationStatus, SetupCompleted, SetupStarted, StartSetup

SOURCE = "/registration"


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


def deep_link(registration: Registration, *, account: str, token: str, service: str | None = None) -> str:
    """Seed 001's link to the provider's page; every value URL-encoded.  ``service`` is the name the
    authenticator shows (an app's display name; ours by default)."""
    settings = registration.settings
    query = urlencode({"action": "add", "service": service or settings.service_display_name, "account": account,
                       "callback": settings.callback_url, "regToken": token}, quote_via=quote)
    return f"{settings.provider_base_url}?{query}"


async def start(registration: Registration, session: AsyncSession, starter: Starter, body: StartSetup) -> SetupStarted:
    if starter.client_id is not None:
        app = await registration.apps.get(starter.client_id)
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
        enrollment = await _person_enrollment(registration, starter)
        subject = {"user_id": starter.user_id, "email": starter.email}
        account = starter.email or str(starter.user_id)
        service_name = None  # ours, as configured

    token, token_hash = repository.new_token()
    registration_id = uuid.uuid4()
    expires_at = datetime.now(UTC) + timedelta(seconds=registration.settings.token_ttl_seconds)
    await repository.insert(session, id=registration_id, token_hash=token_hash, provider=body.provider,
                            service_name=service_name or registration.settings.service_display_name,
                            callback_url=body.callback_url,
                            enrollment=enrollment, status="pending", expires_at=expires_at, **subject)
    if body.provider == "native":
        owner = vault_subject({"user_id": None, "client_id": None, "account": None, **subject})
        seed = await registration.vault.generate(subject=owner, account=account, registration_id=registration_id,
                                                 issuer=service_name)
        await repository.set_seed(session, registration_id, seed.seed_id)
        return SetupStarted(registration_token=token, provider="native", expires_at=expires_at,
                            otpauth_uri=seed.otpauth_uri, qr_svg=seed.qr_svg)
    return SetupStarted(registration_token=token, provider="legitate", expires_at=expires_at,
                        deep_link=deep_link(registration, account=account, token=token, service=service_name))


async def _person_enrollment(registration: Registration, starter: Starter) -> str:
    """A person enrolls with a setup token only: ``first`` while the account has no authenticator
    (so the token is spent once an enrollment completes), ``replace`` after a fresh code. A session's
    access token alone cannot add an authenticator."""
    if starter.enrollment is None:
        raise Forbidden("Enrollment starts with a setup token. To add or replace an authenticator, use "
                        "POST /api/auth/2fa/re-enroll with a current code.", code="setup-token-required")
    if starter.enrollment == FIRST_ENROLLMENT and await registration.vault.has_authenticator(str(starter.user_id)):
        raise AlreadyEnrolled()
    return starter.enrollment


async def open_pending(registration: Registration, token: str) -> RowMapping:
    """The pending registration of ``token``; an overdue one is marked expired on the spot (seed 000)."""
    async with registration.db.transaction() as session:
        row = await repository.by_token(session, token)
        if row is None:
            raise NotFound("Registration token not found.", code="registration-not-found")
        status = row["status"]
        if status == "pending" and row["expires_at"] <= datetime.now(UTC):
            if await repository.transition(session, row["id"], "expired", status_reason="overdue"):
                await publish(session, RegistrationExpired(**_subject_fields(row)), source=SOURCE)
            status = "expired"
    if status == "expired":
        raise RegistrationGone("The registration token has expired; start the setup again.")
    if status != "pending":
        raise RegistrationUsed(f"The registration is already {status}.")
    return row


async def complete(session: AsyncSession, row: RowMapping, *, seed_id: str, external_seed_id: str | None) -> RowMapping:
    now = datetime.now(UTC)
    done = await repository.transition(session, row["id"], "completed", seed_id=seed_id,
                                       external_seed_id=external_seed_id, completed_at=now)
    if done is None:
        raise RegistrationUsed("The registration was completed or rejected meanwhile.")
    await publish(session, RegistrationCompleted(
        **_subject_fields(row), provider=row["provider"], seed_id=external_seed_id or seed_id, completed_at=now,
    ), source=SOURCE)
    return done


async def reject(session: AsyncSession, row: RowMapping, reason: str) -> RowMapping:
    done = await repository.transition(session, row["id"], "rejected", status_reason=reason[:64])
    if done is None:
        raise RegistrationUsed("The registration was completed or rejected meanwhile.")
    await publish(session, RegistrationRejected(**_subject_fields(row), reason=reason[:64]), source=SOURCE)
    return done


async def lock_pending(session: AsyncSession, row: RowMapping) -> RowMapping:
    """Hold the registration while it completes; one that ended meanwhile is a conflict."""
    locked = await repository.lock_pending(session, row["id"])
    if locked is None:
        raise RegistrationUsed("The registration was completed or rejected meanwhile.")
    return locked


async def confirm_native(registration: Registration, body: ConfirmSetup) -> SetupCompleted:
    row = await open_pending(registration, body.registration_token)
    if row["provider"] != "native" or row["seed_id"] is None:
        raise Problem("Only native enrollments are confirmed with a code.", code="not-native", status=409)
    settings = registration.settings
    # Its own transaction on purpose: the attempt counts even when the code then proves wrong.
    async with registration.db.transaction() as session:
        retry_after = await repository.count_confirmation(
            session, row["id"], limit=settings.confirm_attempt_limit,
            window=timedelta(seconds=settings.confirm_attempt_window_seconds))
    if retry_after:
        raise TooManyRequests("Too many codes tried; try again later.", retry_after=retry_after)
    async with registration.db.transaction() as session:
        row = await lock_pending(session, row)
        enrolled = await registration.vault.confirm(row["seed_id"], body.code, enrollment=row["enrollment"])
        done = await complete(session, row, seed_id=row["seed_id"], external_seed_id=None)
    return SetupCompleted(**status_of(done).model_dump(), recovery_codes=enrolled.recovery_codes)


async def read_status(session: AsyncSession, token: str, starter: Starter) -> RegistrationStatus:
    row = await repository.by_token(session, token)
    # An app reads only the registrations it started; anyone else learns nothing, not even existence.
    if row is None or (row["client_id"] is not None and row["client_id"] != starter.client_id) or (
        row["user_id"] is not None and row["user_id"] != starter.user_id
    ):
        raise NotFound("Registration token not found.", code="registration-not-found")
    return status_of(row)


def status_of(row: RowMapping) -> RegistrationStatus:
    return RegistrationStatus(status=row["status"], provider=row["provider"], account=row["account"],
                              seed_id=row["external_seed_id"] or row["seed_id"], created_at=row["created_at"],
                              expires_at=row["expires_at"], completed_at=row["completed_at"])


async def expire_overdue(session: AsyncSession) -> int:
    """The periodic sweeper: pending tokens past their expiry become ``expired``, each with its event."""
    rows = await repository.expire_overdue(session, datetime.now(UTC))
    for row in rows:
        await publish(session, RegistrationExpired(**_subject_fields(row)), source=SOURCE)
    return len(rows)


async def on_user_deleted(session: AsyncSession, event: UserDeleted, envelope: CloudEvent) -> None:
    for row in await repository.cancel_pending_of_user(session, event.user_id):
        await publish(session, RegistrationExpired(**_subject_fields(row)), source=SOURCE)
