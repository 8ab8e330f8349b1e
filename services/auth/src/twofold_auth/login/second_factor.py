"""The one place a second factor is checked: limits, evaluation by the vault, lockout, audit.

Every path that accepts a TOTP or recovery code (the challenge step, seed 004's
verify-2fa-internal and verify-2fa) goes through ``check``.  The attempt is
reserved in its own transaction before the vault is asked, and settled in a
second one together with the caller's success effect (``on_success``), so a
failure is recorded even though the request then fails.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from twofold_common.errors import ServiceUnavailable, TooManyRequests, Unauthorized
from twofold_common.events import AccountLocked, AccountUnlocked, SecondFactorFailed, UnlockedBy
from twofold_common.outbox import publish

from .. import audit
from ..audit import Caller
from ..deps import Auth
from ..models import users

T = TypeVar("T")
SOURCE = "/auth"
Method = Literal["totp", "recovery_code"]


@dataclass(frozen=True)
class SecondFactor:
    code: str | None = None
    recovery_code: str | None = None

    @property
    def method(self) -> Method:
        return "recovery_code" if self.recovery_code else "totp"


def invalid_code() -> Unauthorized:
    # Wrong code, replayed code, locked account: one answer, so none can be told apart.
    return Unauthorized("Invalid code.", code="invalid-code")


async def _reserve(auth: Auth, subject: str, *, caller: Caller, action: str, user_id: uuid.UUID | None = None,
                   details: dict | None = None) -> int:
    async with auth.db.transaction() as session:
        reservation = await auth.limiter.reserve(session, subject)
        if not reservation.granted:
            await audit.record(session, action=action, outcome="refused", user_id=user_id, reason="rate-limited",
                               caller=caller, details=details)
    if reservation.attempt_id is None:
        raise TooManyRequests("Too many attempts; try again later.", retry_after=reservation.retry_after)
    return reservation.attempt_id


async def _evaluated(auth: Auth, attempt_id: int | None, evaluation: Awaitable[Evaluation]) -> Evaluation:
    """The vault's answer; if the vault is away nothing was evaluated, and the attempt does not count."""
    try:
        return await evaluation
    except ServiceUnavailable:
        if attempt_id is not None:
            async with auth.db.transaction() as session:
                await auth.limiter.settle(session, attempt_id, "error")
        raise


async def check(
    auth: Auth,
    user_id: uuid.UUID,
    factor: SecondFactor,
    caller: Caller,
    *,
    action: str,
    on_success: Callable[[AsyncSession, Method], Awaitable[T]],
) -> T:
    """A TOTP code counts against the account's attempt limit and toward the lockout. A recovery code
    does neither, so wrong TOTP codes never block the owner's recovery codes: its 50 random bits are
    not guessable, and every path that takes one is bounded by something an attacker must first have
    (a login challenge, which needs the password and takes few codes, or a signed-in session)."""
    subject = str(user_id)
    async with auth.db.transaction() as session:
        status = await session.scalar(sa.select(users.c.status).where(users.c.id == user_id))
    attempt_id = None if factor.recovery_code else await _reserve(
        auth, subject, caller=caller, action=action, user_id=user_id)
    verdict = await _evaluated(auth, attempt_id, _evaluate(auth, user_id, factor, locked=status == "locked"))
    details: dict = {"method": factor.method}
    if verdict.recovery_codes_left is not None and verdict.valid:
        details["recovery_codes_left"] = str(verdict.recovery_codes_left)

    async with auth.db.transaction() as session:
        if attempt_id is not None:
            await auth.limiter.settle(session, attempt_id, "success" if verdict.valid else "failure")
        if verdict.valid:
            if status == "locked":
                await unlock(session, auth, user_id, by="recovery_code", caller=caller)
            result = await on_success(session, factor.method)
            await audit.record(session, action=action, outcome="success", user_id=user_id, caller=caller,
                               details=details)
            return result
        await audit.record(session, action=action, outcome="failure", user_id=user_id, reason="invalid-code",
                           caller=caller, details=details)
        await publish(session, SecondFactorFailed(user_id=user_id, reason="invalid-code"), source=SOURCE)
        if attempt_id is not None and status != "locked" \
                and await auth.limiter.recent_failures(session, subject) >= auth.settings.lockout_failures:
            await _lock(session, user_id, caller=caller)
    raise invalid_code()


async def check_app_code(auth: Auth, client_id: str, account: str, code: str, caller: Caller) -> bool:
    """A third-party app asks whether its user's code is right: the same limits, answered by the vault."""
    subject = f"{client_id}:{account}"
    details = {"client_id": client_id, "account": account}
    attempt_id = await _reserve(auth, subject, caller=caller, action="app.verify", details=details)
    valid = (await _evaluated(auth, attempt_id, _verify_totp(auth, subject, code))).valid
    async with auth.db.transaction() as session:
        await auth.limiter.settle(session, attempt_id, "success" if valid else "failure")
        await audit.record(session, action="app.verify", outcome="success" if valid else "failure",
                           reason=None if valid else "invalid-code", caller=caller, details=details)
    return valid


@dataclass(frozen=True)
class Evaluation:
    valid: bool
    recovery_codes_left: int | None = None


async def _verify_totp(auth: Auth, subject: str, code: str) -> Evaluation:
    return Evaluation((await auth.vault.verify_code(subject, code)).valid)


async def _evaluate(auth: Auth, user_id: uuid.UUID, factor: SecondFactor, *, locked: bool) -> Evaluation:
    if factor.recovery_code:
        valid, left = await auth.vault.consume_recovery_code(user_id, factor.recovery_code)
        return Evaluation(valid, left)
    if locked or not factor.code:
        return Evaluation(False)  # a locked account accepts only a recovery code
    return await _verify_totp(auth, str(user_id), factor.code)


async def _lock(session: AsyncSession, user_id: uuid.UUID, *, caller: Caller) -> None:
    locked = await session.scalar(
        sa.update(users).where(users.c.id == user_id, users.c.status == "active")
        .values(status="locked", locked_at=sa.func.now(), updated_at=sa.func.now()).returning(users.c.id)
    )
    if locked is not None:
        await publish(session, AccountLocked(user_id=user_id, reason="too-many-failed-codes"), source=SOURCE)
        await audit.record(session, action="account.lock", outcome="success", user_id=user_id,
                           reason="too-many-failed-codes", caller=caller)


async def unlock(session: AsyncSession, auth: Auth, user_id: uuid.UUID, *, by: UnlockedBy,
                 caller: Caller | None) -> bool:
    unlocked = await session.scalar(
        sa.update(users).where(users.c.id == user_id, users.c.status == "locked")
        .values(status="active", locked_at=None, updated_at=sa.func.now()).returning(users.c.id)
    )
    if unlocked is None:
        return False
    await auth.limiter.clear_failures(session, str(user_id))
    await publish(session, AccountUnlocked(user_id=user_id, by=by), source=SOURCE)
    await audit.record(session, action="account.unlock", outcome="success", user_id=user_id, reason=by,
                       caller=caller)
    return True


