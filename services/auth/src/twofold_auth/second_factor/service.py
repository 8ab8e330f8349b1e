"""The one place a second factor is checked: the vault decides the code, auth records what follows.

Every path that accepts a TOTP or recovery code (the login's code step, seed
004's verify-2fa-internal and verify-2fa, changes to the account) goes through
``SecondFactorCheck``; a third-party app's check does not reach auth at all (the
gateway routes it to the vault).

The vault is the authority for a code: it evaluates it with the replay guard, the
subject's attempt limit and its lock in one transaction of its own
(``twofold_vault.checks``).  A check here is:

1. the caller's precondition, which names the user: an open login challenge with
   one more code counted against it, or a live session.  One short statement,
   committed before the vault is asked, so no transaction waits on another service;
2. one call to the vault, which answers the decision and what it did to the lock;
3. one transaction with everything that follows: the caller's success effect
   (``on_success``, which re-checks its precondition: a challenge is consumed
   only while it is still open), the audit row, ``second_factor.failed``, and the
   account's status mirrored from the vault's lock (locked by this failure, or
   unlocked by this recovery code).  A wrong code fails the request after it.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from twofold_common.db import Database
from twofold_common.errors import TooManyRequests, Unauthorized
from twofold_common.events import SecondFactorFailed
from twofold_common.outbox import publish

from ..accounts import service as accounts
from ..audit.service import Caller, record
from ..metrics import AuthMetrics
from ..settings import EVENT_SOURCE
from ..vault import CodeCheck, VaultClient

T = TypeVar("T")
# how a second factor was given (recorded on a verified login challenge)
Method = Literal["totp", "recovery_code"]
# Runs first, in a short transaction of its own: returns the user whose code this is, or None to refuse the code
# unasked (what it counted stays counted).
Subject = Callable[[AsyncSession], Awaitable[uuid.UUID | None]]


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


@dataclass(frozen=True)
class SecondFactorCheck:
    db: Database
    vault: VaultClient
    metrics: AuthMetrics

    async def check(self, subject: Subject, factor: SecondFactor, caller: Caller, *, action: str,
                    on_success: Callable[[AsyncSession, Method], Awaitable[T]]) -> T:
        async with self.db.transaction() as session:
            user_id = await subject(session)
        if user_id is None:
            raise invalid_code()
        decision = await self.vault.check(str(user_id), code=factor.code, recovery_code=factor.recovery_code)
        details: dict = {"method": factor.method}
        if decision.recovery_codes_left is not None and decision.valid:
            details["recovery_codes_left"] = str(decision.recovery_codes_left)

        async with self.db.transaction() as session:
            if decision.outcome == "limited":
                await record(session, action=action, outcome="refused", user_id=user_id, reason="rate-limited",
                             caller=caller, details=details)
            elif decision.valid:
                if decision.unlocked:
                    await accounts.unlock(session, user_id, by="recovery_code", caller=caller)
                result = await on_success(session, factor.method)
                await record(session, action=action, outcome="success", user_id=user_id, caller=caller,
                             details=details)
            else:
                await record(session, action=action, outcome="failure", user_id=user_id, reason="invalid-code",
                             caller=caller, details=details)
                await publish(session, SecondFactorFailed(user_id=user_id, reason="invalid-code"),
                              source=EVENT_SOURCE)
                if decision.locked:  # the vault's lock, mirrored (a no-op when the account shows it already)
                    await accounts.lock(session, user_id, caller=caller)
        # counted once committed
        self.metrics.second_factor_checks.labels(action, _outcome(decision)).inc()
        if decision.outcome == "limited":
            raise TooManyRequests("Too many attempts; try again later.", retry_after=decision.retry_after or 1)
        if not decision.valid:
            raise invalid_code()
        return result


def _outcome(decision: CodeCheck) -> str:
    """The metric's outcome: ``locked`` is a TOTP code the lock refused unseen."""
    return "ok" if decision.valid else decision.outcome if decision.outcome in ("limited", "locked") else "wrong"
