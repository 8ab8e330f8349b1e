"""Two-step login: the password answers with a challenge, and only a second factor makes a session.

No function here creates a session before ``second_factor.check`` succeeded
for that user, and a user who has not finished enrollment only ever gets a
setup token.  Wrong email and wrong password answer the same, in the same time.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal
from urllib.parse import urlencode

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from twofold_common.errors import TooManyRequests, Unauthorized
from twofold_common.events import LoginFailed, LoginSucceeded
from twofold_common.outbox import publish

from .. import audit
from ..audit import Caller
from ..deps import Auth
from ..emails import lookup_key
from ..models import login_challenges, users
from ..sessions.schemas import TokenPair
from ..sessions.service import start_session
from . import second_factor
from .schemas import LoginResponse
from .second_factor import Method, SecondFactor

SOURCE = "/auth"
# which app holds the account's seed (see authenticator_kind)
AuthenticatorKind = Literal["legitate", "native"]


def invalid_credentials() -> Unauthorized:
    return Unauthorized("Invalid email or password.", code="invalid-credentials")


@dataclass(frozen=True)
class Account:
    id: uuid.UUID
    email: str
    status: str
    totp_enabled: bool
    totp_seed_id: str | None
    totp_provider: AuthenticatorKind | None
    password_hash: str = field(repr=False)


async def find_account(session: AsyncSession, email: str) -> Account | None:
    row = (await session.execute(
        sa.select(users.c.id, users.c.email, users.c.status, users.c.totp_enabled, users.c.totp_seed_id,
                  users.c.totp_provider, users.c.password_hash)
        .where(users.c.email_normalized == lookup_key(email))
    )).first()
    return Account(**row._mapping) if row else None


async def _check_password(auth: Auth, email: str, password: str, caller: Caller) -> Account | None:
    """The account when the password is right, under the password limits (``PasswordLimiter``).

    The limit is keyed by the email, not the account, and an unknown email costs
    the same argon2 work: neither the 429 nor the time tells whether it exists.
    """
    async with auth.db.transaction() as session:
        reservation = await auth.password_limiter.reserve(session, lookup_key(email), caller.ip or "unknown")
        account = await find_account(session, email)
        if not reservation.granted:
            await audit.record(session, action="login.password", outcome="refused", reason="rate-limited",
                               user_id=account.id if account else None, caller=caller)
    if reservation.attempt_id is None:
        raise TooManyRequests("Too many wrong passwords from this address; try again later.",
                              retry_after=reservation.retry_after)
    ok = await auth.passwords.verify(account.password_hash if account else None, password)
    async with auth.db.transaction() as session:
        await auth.password_limiter.settle(session, reservation.attempt_id, "success" if ok else "failure")
    return account if ok else None


def authenticator_kind(account: Account) -> AuthenticatorKind:
    """Which app holds the account's seed: the provider's (``legitate``) or any authenticator (``native``).
    Accounts enrolled before this was recorded came from the provider."""
    return account.totp_provider or "legitate"


def deep_link(auth: Auth, account: Account) -> str | None:
    """Seed 002: straight to the seed when its id is known, else by service name and account.
    Only a seed the provider made can be opened there: a native one gets no link."""
    if authenticator_kind(account) != "legitate":
        return None
    if account.totp_seed_id:
        query = {"seedId": account.totp_seed_id}
    else:
        query = {"serviceName": auth.settings.service_display_name, "accountIdentifier": account.email}
    return f"{auth.settings.provider_base_url}?{urlencode(query)}"


async def password_step(auth: Auth, email: str, password: str, caller: Caller) -> LoginResponse:
    account = await _check_password(auth, email, password, caller)
    async with auth.db.transaction() as session:
        if account is None:
            existing = await find_account(session, email)
            if existing is not None:
                await publish(session, LoginFailed(user_id=existing.id, reason="wrong-password"), source=SOURCE)
            await audit.record(session, action="login.password", outcome="failure",
                               user_id=existing.id if existing else None, reason="invalid-credentials",
                               caller=caller)
        elif not account.totp_enabled:
            await audit.record(session, action="login.password", outcome="success", user_id=account.id,
                               reason="2fa-setup-required", caller=caller)
            token, expires = auth.issuer.setup_token(user_id=account.id, email=account.email)
            return LoginResponse(status="2fa_setup_required", setup_token=token,
                                 expires_at=datetime.fromtimestamp(expires, UTC))
        else:
            # A locked account is answered like any other: the lock shows only as failing codes.
            token, expires_at = await _new_challenge(session, auth, account.id, caller)
            await audit.record(session, action="login.password", outcome="success", user_id=account.id,
                               reason="2fa-required", caller=caller)
            return LoginResponse(status="2fa_required", challenge_token=token, totp_seed_id=account.totp_seed_id,
                                 authenticator=authenticator_kind(account), deep_link=deep_link(auth, account),
                                 expires_at=expires_at)
    raise invalid_credentials()


async def _new_challenge(session: AsyncSession, auth: Auth, user_id: uuid.UUID, caller: Caller) -> tuple[str, datetime]:
    token, token_hash = auth.hasher.new("ch")
    expires_at = datetime.now(UTC) + timedelta(seconds=auth.settings.challenge_seconds)
    await session.execute(login_challenges.insert().values(
        id=uuid.uuid4(), token_hash=token_hash, user_id=user_id, expires_at=expires_at,
        ip=caller.ip, user_agent=caller.user_agent,
    ))
    return token, expires_at


def invalid_challenge() -> Unauthorized:
    return Unauthorized("The login challenge is unknown, used, expired or out of tries; sign in again.",
                        code="invalid-challenge")


async def _open_challenge(auth: Auth, token: str) -> tuple[uuid.UUID, uuid.UUID]:
    """The open challenge of ``token``, with one more code tried against it (committed before the code is
    checked). A challenge takes ``challenge_attempts`` codes, then the password must be given again: every
    code is tried within a login that proved the password, recovery codes included."""
    async with auth.db.transaction() as session:
        row = (await session.execute(
            sa.update(login_challenges)
            .where(login_challenges.c.token_hash == auth.hasher.hash(token),
                   login_challenges.c.consumed_at.is_(None), login_challenges.c.verified_at.is_(None),
                   login_challenges.c.expires_at > sa.func.now(),
                   login_challenges.c.attempts < auth.settings.challenge_attempts)
            .values(attempts=login_challenges.c.attempts + 1)
            .returning(login_challenges.c.id, login_challenges.c.user_id)
        )).first()
    if row is None:
        raise invalid_challenge()
    return row.id, row.user_id


async def _consume(session: AsyncSession, challenge_id: uuid.UUID) -> None:
    """The challenge answered: used up, in the transaction that creates the session."""
    consumed = await session.scalar(
        sa.update(login_challenges)
        .where(login_challenges.c.id == challenge_id, login_challenges.c.consumed_at.is_(None),
               login_challenges.c.verified_at.is_(None), login_challenges.c.expires_at > sa.func.now())
        .values(consumed_at=sa.func.now()).returning(login_challenges.c.id)
    )
    if consumed is None:
        raise invalid_challenge()


async def _session_for(session: AsyncSession, auth: Auth, user_id: uuid.UUID, method: Method,
                       caller: Caller) -> TokenPair:
    email = (await session.execute(sa.select(users.c.email).where(users.c.id == user_id))).scalar_one()
    amr = ["pwd", "otp"] if method == "totp" else ["pwd", "rc"]
    pair = await start_session(session, auth, user_id=user_id, email=email, amr=amr, caller=caller)
    await publish(session, LoginSucceeded(user_id=user_id, session_id=pair.session_id, method=method), source=SOURCE)
    return pair


async def challenge_step(auth: Auth, token: str, factor: SecondFactor, caller: Caller) -> TokenPair:
    challenge_id, user_id = await _open_challenge(auth, token)

    async def create_session(session: AsyncSession, method: Method) -> TokenPair:
        await _consume(session, challenge_id)
        return await _session_for(session, auth, user_id, method, caller)

    return await second_factor.check(auth, user_id, factor, caller, action="login.second_factor",
                                     on_success=create_session)


async def verify_code_for_login(auth: Auth, email: str, challenge_token: str, code: str, caller: Caller) -> datetime:
    """Seed 004's ``verify-2fa-internal``: marks the challenge of this password login as verified.

    Bound to the challenge the password step gave: knowing an email is not enough to try a code
    (and so to spend the owner's attempts or lock the account)."""
    challenge_id, user_id = await _open_challenge(auth, challenge_token)
    async with auth.db.transaction() as session:
        account = await find_account(session, email)
    if account is None or account.id != user_id:
        raise second_factor.invalid_code()

    async def mark_verified(session: AsyncSession, method: Method) -> datetime:
        verified_at = datetime.now(UTC)
        await session.execute(sa.update(login_challenges).where(login_challenges.c.id == challenge_id)
                              .values(verified_at=verified_at, verified_method=method))
        return verified_at

    return await second_factor.check(auth, user_id, SecondFactor(code=code), caller,
                                     action="login.second_factor", on_success=mark_verified)


async def signin_after_verification(auth: Auth, email: str, password: str, challenge_token: str,
                                    caller: Caller) -> TokenPair:
    """Seed 004's ``signin-with-2fa``: a session only for the login whose second factor was verified."""
    account = await _check_password(auth, email, password, caller)
    if account is None:
        raise invalid_credentials()
    async with auth.db.transaction() as session:
        method = await session.scalar(
            sa.update(login_challenges)
            .where(login_challenges.c.token_hash == auth.hasher.hash(challenge_token),
                   login_challenges.c.user_id == account.id, login_challenges.c.consumed_at.is_(None),
                   login_challenges.c.verified_at.isnot(None), login_challenges.c.expires_at > sa.func.now())
            .values(consumed_at=sa.func.now()).returning(login_challenges.c.verified_method)
        )
        if method is not None:
            pair = await _session_for(session, auth, account.id, method, caller)
            await audit.record(session, action="login.signin", outcome="success", user_id=account.id, caller=caller)
            return pair
    raise Unauthorized("Verify the second factor of this login first.", code="second-factor-required")


async def step_up(auth: Auth, user_id: uuid.UUID, code: str, caller: Caller) -> datetime:
    """Seed 004's ``verify-2fa``: a signed-in user proves the second factor again."""

    async def now(session: AsyncSession, method: Method) -> datetime:
        return datetime.now(UTC)

    return await second_factor.check(auth, user_id, SecondFactor(code=code), caller, action="step_up",
                                     on_success=now)
