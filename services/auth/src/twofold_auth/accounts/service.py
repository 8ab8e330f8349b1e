"""Accounts: registration, enrollment outcome, 2FA management, deletion, adoption."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from twofold_common.access_tokens import REPLACE_ENROLLMENT
from twofold_common.errors import Conflict
from twofold_common.events import (
    AccountLocked,
    AccountUnlocked,
    CloudEvent,
    RegistrationAttempted,
    RegistrationCompleted,
    TwoFactorEnabled,
    TwoFactorReset,
    UnlockedBy,
    UserDeleted,
    UserRegistered,
)
from twofold_common.outbox import publish

from ..audit.service import Caller, record
from ..emails import normalize_email
from ..metrics import AuthMetrics
from ..passwords import Passwords
from ..sessions.service import Sessions, SignedIn
from ..settings import EVENT_SOURCE, AuthSettings
from ..tokens import TokenIssuer
from ..vault import VaultClient
from . import repository
from .repository import Account as Account
from .repository import AuthenticatorKind as AuthenticatorKind
from .schemas import (
    Adoption,
    AuthenticatorView,
    Registered,
    Registration,
    RegistrationAccepted,
    SetupToken,
    TwoFactorStatus,
)

if TYPE_CHECKING:  # the second-factor check calls this module: the types only, not a cycle of imports
    from ..second_factor.service import Method, SecondFactor, SecondFactorCheck


# What the other domains read and change of an account goes through here.

async def find_by_email(session: AsyncSession, email: str) -> Account | None:
    return await repository.find_by_email(session, email)


async def status_of(session: AsyncSession, user_id: uuid.UUID) -> str | None:
    return await repository.status_of(session, user_id)


async def lock(session: AsyncSession, user_id: uuid.UUID, *, caller: Caller) -> bool:
    """Too many wrong codes: an active account takes only a recovery code until it is unlocked. False when
    the account was not active (already locked, or gone)."""
    if not await repository.lock(session, user_id):
        return False
    await publish(session, AccountLocked(user_id=user_id, reason="too-many-failed-codes"), source=EVENT_SOURCE)
    await record(session, action="account.lock", outcome="success", user_id=user_id,
                 reason="too-many-failed-codes", caller=caller)
    return True


async def unlock(session: AsyncSession, user_id: uuid.UUID, *, by: UnlockedBy, caller: Caller | None,
                 details: dict | None = None) -> bool:
    """A locked account active again; False when it was not locked. ``details``: the audit row's (an operator's
    name and reason)."""
    if not await repository.unlock(session, user_id):
        return False
    await publish(session, AccountUnlocked(user_id=user_id, by=by), source=EVENT_SOURCE)
    await record(session, action="account.unlock", outcome="success", user_id=user_id, reason=by, caller=caller,
                 details=details)
    return True


async def reset_two_factor(session: AsyncSession, user_id: uuid.UUID) -> str | None:
    """The account's authenticators are gone (an operator's reset): 2FA off, the account pending until it enrolls
    again, and ``user.2fa_reset.v1`` for the vault (its seeds and recovery codes) and registration (its pending
    enrollments). Returns the status the account had, or None when there is no such account."""
    before = await repository.reset_two_factor(session, user_id)
    if before is not None:
        await publish(session, TwoFactorReset(user_id=user_id), source=EVENT_SOURCE)
    return before


async def profile(session: AsyncSession, email: str) -> repository.Profile | None:
    return await repository.profile(session, email)


async def on_registration_completed(session: AsyncSession, event: RegistrationCompleted, envelope: CloudEvent) -> None:
    """The enrollment finished: 2FA is on, and a pending account becomes usable."""
    if event.user_id is None:
        return  # a third-party app's account, not one of our users
    if await repository.enable_two_factor(session, event.user_id, seed_id=event.seed_id, provider=event.provider,
                                          completed_at=event.completed_at):
        await publish(session, TwoFactorEnabled(user_id=event.user_id, seed_id=event.seed_id), source=EVENT_SOURCE)


@dataclass(frozen=True)
class Accounts:
    settings: AuthSettings
    passwords: Passwords
    issuer: TokenIssuer
    vault: VaultClient
    second_factor: SecondFactorCheck
    sessions: Sessions
    metrics: AuthMetrics

    async def register(self, session: AsyncSession, body: Registration,
                       caller: Caller) -> Registered | RegistrationAccepted:
        """A ``pending_2fa`` account and a setup token; or, while ``conceal_registered_emails`` is on, the same
        answer for a new and a known email (both cost one argon2 hash), and the known email's owner is told by
        ``account.registration_attempted.v1``: the new account's owner continues by signing in."""
        email = normalize_email(body.email)
        password_hash = await self.passwords.hash(body.password)
        user_id = uuid.uuid4()
        concealed = self.settings.conceal_registered_emails
        if not await repository.insert_pending(session, user_id=user_id, email=email, username=body.username,
                                               password_hash=password_hash):
            existing = await repository.owner_of_email(session, email)
            if existing is None and concealed:
                raise Conflict("This username is taken.", code="username-taken")
            if existing is None or not concealed:
                raise Conflict("An account with this email or username already exists.", code="account-exists")
            owner, owner_email = existing
            await publish(session, RegistrationAttempted(user_id=owner, email=owner_email), source=EVENT_SOURCE)
            await record(session, action="register", outcome="refused", user_id=owner, reason="email-exists",
                         caller=caller)
            return RegistrationAccepted()
        await publish(session, UserRegistered(user_id=user_id, email=email.address), source=EVENT_SOURCE)
        await record(session, action="register", outcome="success", user_id=user_id, caller=caller)
        self.metrics.registrations.inc()
        if concealed:
            return RegistrationAccepted()
        token, expires = self.issuer.setup_token(user_id=user_id, email=email.address)
        return Registered(user_id=user_id, setup_token=token,
                          setup_token_expires_at=datetime.fromtimestamp(expires, UTC))

    async def two_factor_status(self, session: AsyncSession, user_id: uuid.UUID) -> TwoFactorStatus:
        """What the account has: every authenticator that can sign in (the vault's active seeds) and the
        recovery codes left."""
        row = await repository.two_factor_row(session, user_id)
        factors = await self.vault.factors(user_id)
        return TwoFactorStatus(enabled=row.totp_enabled, status=row.status,
                               setup_completed_at=row.totp_setup_completed_at, seed_id=row.totp_seed_id,
                               authenticators=[AuthenticatorView.model_validate(a) for a in factors.authenticators],
                               recovery_codes_remaining=factors.recovery_codes_left)

    async def regenerate_recovery_codes(self, me: SignedIn, factor: SecondFactor, caller: Caller) -> list[str]:
        async def regenerate(session: AsyncSession, method: Method) -> list[str]:
            return await self.vault.new_recovery_codes(me.user_id)

        return await self.second_factor.check(self.sessions.subject(me), factor, caller,
                                              action="2fa.recovery_codes", on_success=regenerate)

    async def start_reenrollment(self, me: SignedIn, factor: SecondFactor, caller: Caller) -> SetupToken:
        """A fresh code (or a recovery code, for a lost phone) buys a setup token that replaces the current
        authenticator: it keeps working until the new one is confirmed, then it is revoked."""

        async def issue(session: AsyncSession, method: Method) -> SetupToken:
            email = await repository.email_of(session, me.user_id)
            token, expires = self.issuer.setup_token(user_id=me.user_id, email=email, enrollment=REPLACE_ENROLLMENT)
            return SetupToken(setup_token=token, expires_at=datetime.fromtimestamp(expires, UTC))

        return await self.second_factor.check(self.sessions.subject(me), factor, caller, action="2fa.reenroll",
                                              on_success=issue)

    async def delete(self, me: SignedIn, factor: SecondFactor, caller: Caller) -> None:
        """Sessions revoked, the row gone; the event makes the vault and registration forget the user."""

        async def delete(session: AsyncSession, method: Method) -> None:
            await self.sessions.revoke_all(session, user_id=me.user_id, reason="account-deleted")
            await repository.delete(session, me.user_id)
            await publish(session, UserDeleted(user_id=me.user_id), source=EVENT_SOURCE)

        await self.second_factor.check(self.sessions.subject(me), factor, caller, action="account.delete",
                                       on_success=delete)


async def adoption(session: AsyncSession) -> Adoption:
    total, enabled = await repository.counts(session)
    return Adoption(users=total, enrolled=enabled, share=round(enabled / total, 4) if total else 0.0)
