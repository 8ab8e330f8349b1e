"""The one place a second factor is checked: limits, evaluation by the vault, lockout, audit.

Every path that accepts a TOTP or recovery code (the login's code step, seed
004's verify-2fa-internal and verify-2fa, changes to the account, a
third-party app's check) goes through ``SecondFactorCheck``.

A check is a workflow of two transactions, on purpose:

1. the caller's precondition (an open login challenge, a live session), the
   account's status, and for a TOTP code a reserved attempt.  It commits
   before the vault is asked: parallel guesses then see each other's pending
   attempts, and no transaction (nor its connection) waits on another service;
2. the outcome: the attempt settled, with the caller's success effect
   (``on_success``) or the failure's record and the lockout.  It commits
   whether the code was right or not, and a wrong code fails the request after
   the commit.

Every other request of auth is one unit of work that the request owns.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from twofold_common.db import Database
from twofold_common.errors import ServiceUnavailable, TooManyRequests, Unauthorized
from twofold_common.events import SecondFactorFailed, UnlockedBy
from twofold_common.outbox import publish

from ..accounts import service as accounts
from ..audit.service import Caller, record
from ..metrics import AuthMetrics
from ..settings import EVENT_SOURCE
from ..vault import VaultClient
from .repository import AttemptLimiter, Method, Reservation

T = TypeVar("T")
# Runs first, in the first transaction: returns the user whose code this is, or None to refuse the code
# after that transaction committed (what it counted stays counted).
Subject = Callable[[AsyncSession], Awaitable[uuid.UUID | None]]


@dataclass(frozen=True)
class SecondFactor:
    code: str | None = None
    recovery_code: str | None = None

    @property
    def method(self) -> Method:
        return "recovery_code" if self.recovery_code else "totp"


@dataclass(frozen=True)
class Evaluation:
    valid: bool
    recovery_codes_left: int | None = None


def invalid_code() -> Unauthorized:
    # Wrong code, replayed code, locked account: one answer, so none can be told apart.
    return Unauthorized("Invalid code.", code="invalid-code")


def too_many_attempts(reservation: Reservation) -> TooManyRequests:
    return TooManyRequests("Too many attempts; try again later.", retry_after=reservation.retry_after)


@dataclass(frozen=True)
class SecondFactorCheck:
    db: Database
    vault: VaultClient
    limiter: AttemptLimiter
    lockout_failures: int
    metrics: AuthMetrics

    async def check(self, subject: Subject, factor: SecondFactor, caller: Caller, *, action: str,
                    on_success: Callable[[AsyncSession, Method], Awaitable[T]]) -> T:
        """A TOTP code counts against the account's attempt limit and toward the lockout. A recovery code
        does neither, so wrong TOTP codes never block the owner's recovery codes: its 50 random bits are
        not guessable, and every path that takes one is bounded by something an attacker must first have
        (a login challenge, which needs the password and takes few codes, or a signed-in session)."""
        reservation = None
        async with self.db.transaction() as session:
            user_id = await subject(session)
            if user_id is not None:
                status = await accounts.status_of(session, user_id)
                if not factor.recovery_code:
                    reservation = await self._reserve(session, str(user_id), action=action, caller=caller,
                                                      user_id=user_id)
        if user_id is None:
            raise invalid_code()
        if reservation is not None and not reservation.granted:
            self.metrics.second_factor_checks.labels(action, "limited").inc()
            raise too_many_attempts(reservation)
        attempt_id = reservation.attempt_id if reservation else None
        verdict = await self._evaluated(attempt_id, self._evaluate(user_id, factor, locked=status == "locked"))
        details: dict = {"method": factor.method}
        if verdict.recovery_codes_left is not None and verdict.valid:
            details["recovery_codes_left"] = str(verdict.recovery_codes_left)

        locked_now = False
        async with self.db.transaction() as session:
            if attempt_id is not None:
                await self.limiter.settle(session, attempt_id, "success" if verdict.valid else "failure")
            if verdict.valid:
                if status == "locked":
                    await self.unlock(session, user_id, by="recovery_code", caller=caller)
                result = await on_success(session, factor.method)
                await record(session, action=action, outcome="success", user_id=user_id, caller=caller,
                             details=details)
            else:
                await record(session, action=action, outcome="failure", user_id=user_id, reason="invalid-code",
                             caller=caller, details=details)
                await publish(session, SecondFactorFailed(user_id=user_id, reason="invalid-code"),
                              source=EVENT_SOURCE)
                if attempt_id is not None and status != "locked" \
                        and await self.limiter.recent_failures(session, str(user_id)) >= self.lockout_failures:
                    locked_now = await accounts.lock(session, user_id, caller=caller)
        # counted once committed; "locked": a TOTP code the lock refused unseen
        outcome = "ok" if verdict.valid else "locked" if status == "locked" and not factor.recovery_code else "wrong"
        self.metrics.second_factor_checks.labels(action, outcome).inc()
        if locked_now:
            self.metrics.lockouts.inc()
        if not verdict.valid:
            raise invalid_code()
        return result

    async def check_app_code(self, client_id: str, account: str, code: str, caller: Caller) -> bool:
        """A third-party app asks whether its user's code is right: the same limits and the same two
        transactions, answered by the vault."""
        subject = f"{client_id}:{account}"
        details = {"client_id": client_id, "account": account}
        async with self.db.transaction() as session:
            reservation = await self._reserve(session, subject, action="app.verify", caller=caller, details=details)
        if reservation.attempt_id is None:
            self.metrics.app_code_checks.labels("limited").inc()
            raise too_many_attempts(reservation)
        valid = (await self._evaluated(reservation.attempt_id, self._verify_totp(subject, code))).valid
        async with self.db.transaction() as session:
            await self.limiter.settle(session, reservation.attempt_id, "success" if valid else "failure")
            await record(session, action="app.verify", outcome="success" if valid else "failure",
                         reason=None if valid else "invalid-code", caller=caller, details=details)
        self.metrics.app_code_checks.labels("valid" if valid else "invalid").inc()
        return valid

    async def _reserve(self, session: AsyncSession, subject: str, *, action: str, caller: Caller,
                       user_id: uuid.UUID | None = None, details: dict | None = None) -> Reservation:
        reservation = await self.limiter.reserve(session, subject)
        if not reservation.granted:
            await record(session, action=action, outcome="refused", user_id=user_id, reason="rate-limited",
                         caller=caller, details=details)
        return reservation

    async def _evaluated(self, attempt_id: int | None, evaluation: Awaitable[Evaluation]) -> Evaluation:
        """The vault's answer; if the vault is away nothing was evaluated, and the attempt does not count."""
        try:
            return await evaluation
        except ServiceUnavailable:
            if attempt_id is not None:
                async with self.db.transaction() as session:
                    await self.limiter.settle(session, attempt_id, "error")
            raise

    async def _verify_totp(self, subject: str, code: str) -> Evaluation:
        return Evaluation((await self.vault.verify_code(subject, code)).valid)

    async def _evaluate(self, user_id: uuid.UUID, factor: SecondFactor, *, locked: bool) -> Evaluation:
        if factor.recovery_code:
            valid, left = await self.vault.consume_recovery_code(user_id, factor.recovery_code)
            return Evaluation(valid, left)
        if locked or not factor.code:
            return Evaluation(False)  # a locked account accepts only a recovery code
        return await self._verify_totp(str(user_id), factor.code)

    async def unlock(self, session: AsyncSession, user_id: uuid.UUID, *, by: UnlockedBy,
                     caller: Caller | None) -> bool:
        return await unlock(session, self.limiter, user_id, by=by, caller=caller)


async def unlock(session: AsyncSession, limiter: AttemptLimiter, user_id: uuid.UUID, *, by: UnlockedBy,
                 caller: Caller | None, details: dict | None = None) -> bool:
    """The account unlocked, and the failures that locked it no longer count; False when it was not locked."""
    if not await accounts.unlock(session, user_id, by=by, caller=caller, details=details):
        return False
    await limiter.clear_failures(session, str(user_id))
    return True
