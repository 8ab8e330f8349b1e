"""Accounts: registration, enrollment outcome, 2FA management, deletion, audit and adoption views."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from twofold_common.access_tokens import REPLACE_ENROLLMENT
from twofold_common.errors import Conflict
from twofold_common.events import (
    CloudEvent,
    RegistrationAttempted,
    RegistrationCompleted,
    TwoFactorEnabled,
    UserDeleted,
    UserRegistered,
)
from twofold_common.outbox import publish

from .. import audit
from ..audit import Caller
from ..deps import Auth
from ..emails import normalize_email
from ..login import second_factor
from ..login.second_factor import SecondFactor
from ..models import audit_log, users
from ..sessions.service import revoke_all
from .schemas import (
    Adoption,
    AuditEntry,
    AuthenticatorView,
    Registered,
    Registration,
    RegistrationAccepted,
    SetupToken,
    TwoFactorStatus,
)

SOURCE = "/auth"


async def register(session: AsyncSession, auth: Auth, body: Registration,
                   caller: Caller) -> Registered | RegistrationAccepted:
    """A ``pending_2fa`` account and a setup token; or, while ``conceal_registered_emails`` is on, the same
    answer for a new and a known email (both cost one argon2 hash), and the known email's owner is told by
    ``account.registration_attempted.v1``: the new account's owner continues by signing in."""
    email = normalize_email(body.email)
    password_hash = await auth.passwords.hash(body.password)
    user_id = uuid.uuid4()
    inserted = await session.scalar(
        insert(users).values(id=user_id, email=email.address, email_normalized=email.key,
                             username=body.username, password_hash=password_hash, status="pending_2fa")
        .on_conflict_do_nothing().returning(users.c.id)
    )
    concealed = auth.settings.conceal_registered_emails
    if inserted is None:
        existing = (await session.execute(
            sa.select(users.c.id, users.c.email).where(users.c.email_normalized == email.key)
        )).first()
        if existing is None and concealed:
            raise Conflict("This username is taken.", code="username-taken")
        if existing is None or not concealed:
            raise Conflict("An account with this email or username already exists.", code="account-exists")
        await publish(session, RegistrationAttempted(user_id=existing.id, email=existing.email), source=SOURCE)
        await audit.record(session, action="register", outcome="refused", user_id=existing.id,
                           reason="email-exists", caller=caller)
        return RegistrationAccepted()
    await publish(session, UserRegistered(user_id=user_id, email=email.address), source=SOURCE)
    await audit.record(session, action="register", outcome="success", user_id=user_id, caller=caller)
    if concealed:
        return RegistrationAccepted()
    token, expires = auth.issuer.setup_token(user_id=user_id, email=email.address)
    return Registered(user_id=user_id, setup_token=token, setup_token_expires_at=datetime.fromtimestamp(expires, UTC))


async def on_registration_completed(session: AsyncSession, event: RegistrationCompleted, envelope: CloudEvent) -> None:
    """The enrollment finished: 2FA is on, and a pending account becomes usable."""
    if event.user_id is None:
        return  # a third-party app's account, not one of our users
    enabled = await session.scalar(
        sa.update(users).where(users.c.id == event.user_id)
        .values(totp_enabled=True, totp_seed_id=event.seed_id, totp_provider=event.provider,
                totp_setup_completed_at=event.completed_at,
                status=sa.case((users.c.status == "pending_2fa", "active"), else_=users.c.status),
                updated_at=sa.func.now())
        .returning(users.c.id)
    )
    if enabled is not None:
        await publish(session, TwoFactorEnabled(user_id=event.user_id, seed_id=event.seed_id), source=SOURCE)


async def two_factor_status(session: AsyncSession, auth: Auth, user_id: uuid.UUID) -> TwoFactorStatus:
    """What the account has: every authenticator that can sign in (the vault's active seeds) and the
    recovery codes left."""
    row = (await session.execute(
        sa.select(users.c.totp_enabled, users.c.status, users.c.totp_setup_completed_at, users.c.totp_seed_id,
                  users.c.totp_provider)
        .where(users.c.id == user_id)
    )).one()
    factors = await auth.vault.factors(user_id)
    return TwoFactorStatus(enabled=row.totp_enabled, status=row.status,
                           setup_completed_at=row.totp_setup_completed_at, seed_id=row.totp_seed_id,
                           authenticators=[AuthenticatorView.model_validate(a) for a in factors.authenticators],
                           recovery_codes_remaining=factors.recovery_codes_left)


async def regenerate_recovery_codes(auth: Auth, user_id: uuid.UUID, factor: SecondFactor, caller: Caller) -> list[str]:
    async def regenerate(session: AsyncSession, method: str) -> list[str]:
        return await auth.vault.new_recovery_codes(user_id)

    return await second_factor.check(auth, user_id, factor, caller, action="2fa.recovery_codes", on_success=regenerate)


async def start_reenrollment(auth: Auth, user_id: uuid.UUID, factor: SecondFactor, caller: Caller) -> SetupToken:
    """A fresh code (or a recovery code, for a lost phone) buys a setup token that replaces the current
    authenticator: it keeps working until the new one is confirmed, then it is revoked."""

    async def issue(session: AsyncSession, method: str) -> SetupToken:
        email = (await session.execute(sa.select(users.c.email).where(users.c.id == user_id))).scalar_one()
        token, expires = auth.issuer.setup_token(user_id=user_id, email=email, enrollment=REPLACE_ENROLLMENT)
        return SetupToken(setup_token=token, expires_at=datetime.fromtimestamp(expires, UTC))

    return await second_factor.check(auth, user_id, factor, caller, action="2fa.reenroll", on_success=issue)


async def delete_account(auth: Auth, user_id: uuid.UUID, factor: SecondFactor, caller: Caller) -> None:
    """Sessions revoked, the row gone; the event makes the vault and registration forget the user."""

    async def delete(session: AsyncSession, method: str) -> None:
        await revoke_all(session, user_id=user_id, reason="account-deleted")
        await session.execute(sa.delete(users).where(users.c.id == user_id))
        await publish(session, UserDeleted(user_id=user_id), source=SOURCE)

    await second_factor.check(auth, user_id, factor, caller, action="account.delete", on_success=delete)


async def audit_entries(session: AsyncSession, *, user_id: uuid.UUID | None, limit: int = 100,
                        before: int | None = None) -> list[AuditEntry]:
    query = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    fields = AuditEntry.model_fields
    if user_id is not None:
        query = query.where(audit_log.c.user_id == user_id)
    if before is not None:
        query = query.where(audit_log.c.id < before)
    rows = (await session.execute(query)).mappings()
    return [AuditEntry.model_validate({k: v for k, v in row.items() if k in fields}) for row in rows]


async def adoption(session: AsyncSession) -> Adoption:
    total, enabled = (await session.execute(
        sa.select(sa.func.count(), sa.func.count().filter(users.c.totp_enabled))
    )).one()
    return Adoption(users=total, enrolled=enabled, share=round(enabled / total, 4) if total else 0.0)
