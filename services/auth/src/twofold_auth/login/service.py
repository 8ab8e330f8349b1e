"""Two-step login: the password answers with a challenge, and only a second factor makes a session.

No method here creates a session before the second-factor check succeeded for
that user, and a user who has not finished enrollment only ever gets a setup
token.  Wrong email and wrong password answer the same, in the same time.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.ext.asyncio import AsyncSession

from twofold_common.db import Database
from twofold_common.errors import TooManyRequests, Unauthorized
from twofold_common.events import LoginFailed, LoginSucceeded
from twofold_common.outbox import publish

from ..accounts import service as accounts
from ..accounts.service import Account, AuthenticatorKind
from ..audit.service import Caller, record, row
from ..emails import lookup_key
from ..metrics import AuthMetrics
from ..passwords import Passwords
from ..second_factor.service import Method, SecondFactor, SecondFactorCheck
from ..sessions.schemas import TokenPair
from ..sessions.service import Sessions, SignedIn
from ..settings import EVENT_SOURCE, AuthSettings
from ..tokens import TokenHasher, TokenIssuer
from . import repository
from .repository import PasswordLimiter
from .schemas import LoginResponse


def invalid_credentials() -> Unauthorized:
    return Unauthorized("Invalid email or password.", code="invalid-credentials")


def invalid_challenge() -> Unauthorized:
    return Unauthorized("The login challenge is unknown, used, expired or out of tries; sign in again.",
                        code="invalid-challenge")


def authenticator_kind(account: Account) -> AuthenticatorKind:
    """Which app holds the account's seed: the provider's (``legitate``) or any authenticator (``native``).
    Accounts enrolled before this was recorded came from the provider."""
    return account.totp_provider or "legitate"


@dataclass
class PasswordChecked:
    """A checked password, in the transaction of what it leads to: its reserved attempt is settled there, with the
    challenge it leads to (``settled``) or at the end of the block."""

    session: AsyncSession
    account: Account | None  # None: no account has the email
    right: bool
    attempt_id: int
    settled: bool = False


@dataclass(frozen=True)
class Login:
    db: Database
    settings: AuthSettings
    passwords: Passwords
    limiter: PasswordLimiter
    issuer: TokenIssuer
    hasher: TokenHasher
    second_factor: SecondFactorCheck
    sessions: Sessions
    metrics: AuthMetrics

    @asynccontextmanager
    async def _password_checked(self, email: str, password: str, caller: Caller) -> AsyncIterator[PasswordChecked]:
        """The password check, a workflow of two transactions on purpose.

        The attempt is reserved under the password limits (``PasswordLimiter``, which finds the account in the
        same round trip) and committed before the hash, so parallel guesses see it; argon2 then runs outside any
        transaction; the attempt is settled in the second transaction, which this yields (with the account, or
        None for an unknown email, and whether the password was right) for what the answer leads to.  The block
        must not raise: it refuses after the commit.  The limit is keyed by the email, not the account, and an
        unknown email costs the same argon2 work: neither the 429 nor the time tells whether it exists.
        """
        async with self.db.transaction() as session:
            reservation = await self.limiter.reserve(session, lookup_key(email), caller.ip or "unknown")
            account = reservation.account
            if not reservation.granted:
                await record(session, action="login.password", outcome="refused", reason="rate-limited",
                             user_id=account.id if account else None, caller=caller)
        if reservation.attempt_id is None:
            self.metrics.password_checks.labels("limited").inc()
            raise TooManyRequests("Too many wrong passwords from this address; try again later.",
                                  retry_after=reservation.retry_after)
        right = await self.passwords.verify(account.password_hash if account else None, password)
        async with self.db.transaction() as session:
            checked = PasswordChecked(session, account, right, reservation.attempt_id)
            yield checked
            if not checked.settled:
                await repository.settle(session, checked.attempt_id, "success" if right else "failure")
        self.metrics.password_checks.labels("ok" if right else "wrong").inc()

    async def password_step(self, email: str, password: str, caller: Caller) -> LoginResponse:
        answer = None
        async with self._password_checked(email, password, caller) as checked:
            session, account = checked.session, checked.account
            if account is None or not checked.right:
                if account is not None:
                    await publish(session, LoginFailed(user_id=account.id, reason="wrong-password"),
                                  source=EVENT_SOURCE)
                await record(session, action="login.password", outcome="failure",
                             user_id=account.id if account else None, reason="invalid-credentials", caller=caller)
            elif not account.totp_enabled:
                await record(session, action="login.password", outcome="success", user_id=account.id,
                             reason="2fa-setup-required", caller=caller)
                token, expires = self.issuer.setup_token(user_id=account.id, email=account.email)
                answer = LoginResponse(status="2fa_setup_required", setup_token=token,
                                       expires_at=datetime.fromtimestamp(expires, UTC))
            else:
                # A locked account is answered like any other: the lock shows only as failing codes.
                token, expires_at = await self._new_challenge(checked, account.id, caller, audit_row=row(
                    action="login.password", outcome="success", user_id=account.id, reason="2fa-required",
                    caller=caller))
                answer = LoginResponse(status="2fa_required", challenge_token=token,
                                       totp_seed_id=account.totp_seed_id, authenticator=authenticator_kind(account),
                                       deep_link=self.deep_link(account), expires_at=expires_at)
        if answer is None:
            raise invalid_credentials()
        return answer

    def deep_link(self, account: Account) -> str | None:
        """Seed 002: straight to the seed when its id is known, else by service name and account.
        Only a seed the provider made can be opened there: a native one gets no link."""
        if authenticator_kind(account) != "legitate":
            return None
        if account.totp_seed_id:
            query = {"seedId": account.totp_seed_id}
        else:
            query = {"serviceName": self.settings.service_display_name, "accountIdentifier": account.email}
        return f"{self.settings.provider_base_url}?{urlencode(query)}"

    async def _new_challenge(self, checked: PasswordChecked, user_id: uuid.UUID, caller: Caller, *,
                             audit_row: dict[str, Any]) -> tuple[str, datetime]:
        """The login's challenge, created with the right password's attempt settled and its audit row (``row``)
        in one round trip."""
        token, token_hash = self.hasher.new("ch")
        expires_at = datetime.now(UTC) + timedelta(seconds=self.settings.challenge_seconds)
        await repository.settle_with_challenge(checked.session, checked.attempt_id, token_hash=token_hash,
                                               user_id=user_id, expires_at=expires_at, ip=caller.ip,
                                               user_agent=caller.user_agent, audit_row=audit_row)
        checked.settled = True
        return token, expires_at

    async def _try_challenge(self, session: AsyncSession, token: str) -> repository.Challenge:
        """The open challenge of ``token``, with one more code counted against it. A challenge takes
        ``challenge_attempts`` codes, then the password must be given again: every code is tried within a
        login that proved the password, recovery codes included."""
        challenge = await repository.try_challenge(session, self.hasher.hash(token),
                                                   max_attempts=self.settings.challenge_attempts)
        if challenge is None:
            raise invalid_challenge()
        return challenge

    async def _start_session(self, session: AsyncSession, user_id: uuid.UUID, email: str, method: Method,
                             caller: Caller) -> TokenPair:
        amr = ["pwd", "otp"] if method == "totp" else ["pwd", "rc"]
        pair = await self.sessions.start(session, user_id=user_id, email=email, amr=amr, caller=caller)
        await publish(session, LoginSucceeded(user_id=user_id, session_id=pair.session_id, method=method),
                      source=EVENT_SOURCE)
        return pair

    async def challenge_step(self, token: str, factor: SecondFactor, caller: Caller) -> TokenPair:
        challenge: repository.Challenge | None = None

        async def subject(session: AsyncSession) -> uuid.UUID:
            nonlocal challenge
            challenge = await self._try_challenge(session, token)
            return challenge.user_id

        async def create_session(session: AsyncSession, method: Method) -> TokenPair:
            assert challenge is not None
            if not await repository.consume_open(session, challenge.id):
                raise invalid_challenge()
            return await self._start_session(session, challenge.user_id, challenge.email, method, caller)

        return await self.second_factor.check(subject, factor, caller, action="login.second_factor",
                                              on_success=create_session)

    async def verify_code_for_login(self, email: str, challenge_token: str, code: str, caller: Caller) -> datetime:
        """Seed 004's ``verify-2fa-internal``: marks the challenge of this password login as verified.

        Bound to the challenge the password step gave: knowing an email is not enough to try a code
        (and so to spend the owner's attempts or lock the account)."""
        challenge: repository.Challenge | None = None

        async def subject(session: AsyncSession) -> uuid.UUID | None:
            nonlocal challenge
            challenge = await self._try_challenge(session, challenge_token)
            account = await accounts.find_by_email(session, email)
            return challenge.user_id if account is not None and account.id == challenge.user_id else None

        async def mark_verified(session: AsyncSession, method: Method) -> datetime:
            assert challenge is not None
            verified_at = datetime.now(UTC)
            if not await repository.mark_verified(session, challenge.id, at=verified_at, method=method):
                raise invalid_challenge()
            return verified_at

        return await self.second_factor.check(subject, SecondFactor(code=code), caller,
                                              action="login.second_factor", on_success=mark_verified)

    async def signin_after_verification(self, email: str, password: str, challenge_token: str,
                                        caller: Caller) -> TokenPair:
        """Seed 004's ``signin-with-2fa``: a session only for the login whose second factor was verified."""
        pair = None
        async with self._password_checked(email, password, caller) as checked:
            session, account, right = checked.session, checked.account, checked.right
            if account is not None and right:
                method = await repository.consume_verified(session, self.hasher.hash(challenge_token), account.id)
                if method is not None:
                    pair = await self._start_session(session, account.id, account.email, method, caller)
                    await record(session, action="login.signin", outcome="success", user_id=account.id,
                                 caller=caller)
        if account is None or not right:
            raise invalid_credentials()
        if pair is None:
            raise Unauthorized("Verify the second factor of this login first.", code="second-factor-required")
        return pair

    async def step_up(self, me: SignedIn, code: str, caller: Caller) -> datetime:
        """Seed 004's ``verify-2fa``: a signed-in user proves the second factor again."""

        async def now(session: AsyncSession, method: Method) -> datetime:
            return datetime.now(UTC)

        return await self.second_factor.check(self.sessions.subject(me), SecondFactor(code=code), caller,
                                              action="step_up", on_success=now)

