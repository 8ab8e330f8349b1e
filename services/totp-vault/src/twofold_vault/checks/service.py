"""Code checks, decided where the seed lives: the code, the replay guard, the attempt limit and the lock in one
transaction.

A subject is a user id (auth asks, for every path that takes a second factor) or ``<client_id>:<account>`` (a
third-party app asks through the gateway).  A check takes the subject's transaction-scoped advisory lock, reads
its TOTP failures of the attempt window and of the lockout window and whether it is locked, evaluates the code,
records the outcome, and locks the subject when its failures reach ``lockout_failures``.  Parallel checks of one
subject queue on the lock for the few milliseconds of this local work, so 50 parallel guesses get at most
``attempt_limit`` evaluations, and of 50 parallel uses of one valid code exactly one is accepted.

A TOTP code counts against the limit and toward the lockout; a locked subject's TOTP code is not evaluated and
counts as a failure.  A recovery code does neither (its 50 random bits are not guessable, and every path that
takes one is bounded by something an attacker must first have: a login challenge or a signed-in session), so
wrong TOTP codes never block the owner's recovery codes; a valid one unlocks the subject.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from twofold_common.db import Database, driver_of

from ..crypto import KeyRing
from ..metrics import VaultMetrics
from ..recovery.service import RecoveryCodes
from ..seeds.service import match_code
from ..settings import VaultSettings
from . import repository
from .schemas import CheckAnswer


@dataclass(frozen=True)
class Limits:
    attempt_limit: int
    window: timedelta
    lockout_failures: int
    lockout_window: timedelta

    @classmethod
    def from_settings(cls, settings: VaultSettings) -> Limits:
        return cls(settings.attempt_limit, timedelta(seconds=settings.attempt_window_seconds),
                   settings.lockout_failures, timedelta(seconds=settings.lockout_window_seconds))


@dataclass(frozen=True)
class CodeChecks:
    db: Database
    ring: KeyRing
    pepper: bytes
    limits: Limits
    metrics: VaultMetrics

    async def check(self, subject: str, *, code: str | None = None, recovery_code: str | None = None,
                    seed_id: uuid.UUID | None = None) -> CheckAnswer:
        """Exactly one of ``code`` and ``recovery_code``.  Commits before it answers; a seed that cannot be
        decrypted (503) rolls the check back: nothing was evaluated, and nothing counts."""
        if recovery_code is not None:
            answer = await self._recovery_code(subject, recovery_code)
        else:
            assert code is not None
            answer = await self._totp(subject, code, seed_id)
        if answer.locked_now:  # counted once committed
            self.metrics.lockouts.inc()
        return answer

    async def _totp(self, subject: str, code: str, seed_id: uuid.UUID | None) -> CheckAnswer:
        """Four round trips: BEGIN with the lock, one read (limit state and active seeds), one write (the step, the
        record and the lock), COMMIT; the code is evaluated between the read and the write."""
        async with self.db.driver_transaction(repository.lock_statement(subject)) as driver:
            state, candidates = await repository.state_and_seeds(driver, subject, seed_id, window=self.limits.window,
                                                                 lockout_window=self.limits.lockout_window)
            if state.failures >= self.limits.attempt_limit:
                assert state.oldest_failure is not None
                retry_after = int((state.oldest_failure + self.limits.window - datetime.now(UTC)).total_seconds()) + 1
                await repository.decide(driver, subject, "totp", outcome="limited")
                return CheckAnswer(valid=False, outcome="limited", retry_after=max(1, retry_after),
                                   locked=state.locked)
            if state.locked:
                await repository.decide(driver, subject, "totp", reason="locked")
                return CheckAnswer(valid=False, outcome="locked", locked=True)
            match = match_code(self.ring, candidates, code, time.time())
            lock_if_failed = state.recent_failures + 1 >= self.limits.lockout_failures
            if await repository.decide(driver, subject, "totp", accept=match.accept, reason=match.reason,
                                       lock_if_failed=lock_if_failed):
                assert match.accept is not None
                return CheckAnswer(valid=True, outcome="ok", seed_id=match.accept[0])
            return CheckAnswer(valid=False, outcome=match.reason, locked=lock_if_failed, locked_now=lock_if_failed)

    async def _recovery_code(self, subject: str, code: str) -> CheckAnswer:
        """In a session: using a recovery code publishes an event (the outbox is the session's)."""
        async with self.db.transaction() as session:
            await repository.lock_subject(session, subject)
            driver = await driver_of(session)
            state, _ = await repository.state_and_seeds(driver, subject, None, window=self.limits.window,
                                                        lockout_window=self.limits.lockout_window)
            valid, left = await RecoveryCodes(session, self.pepper).consume(subject, code)
            await repository.decide(driver, subject, "recovery_code", outcome="success" if valid else "failure",
                                    reason=None if valid else "invalid")
            if not valid:
                return CheckAnswer(valid=False, outcome="invalid", locked=state.locked, recovery_codes_left=left)
            unlocked = state.locked and await repository.unlock(session, subject)
            return CheckAnswer(valid=True, outcome="ok", unlocked=unlocked, recovery_codes_left=left)

    async def unlock(self, subject: str) -> bool:
        """An operator's unlock (or a 2FA reset): the lock gone, the failures that caused it no longer counted.
        False when the subject was not locked (its failures are cleared all the same)."""
        async with self.db.transaction() as session:
            await repository.lock_subject(session, subject)
            return await repository.unlock(session, subject)

    async def check_app_code(self, client_id: str, account: str, code: str) -> CheckAnswer:
        """A third-party app's question about one of its users: the same check, the subject named by the app."""
        answer = await self.check(f"{client_id}:{account}", code=code)
        self.metrics.app_code_checks.labels("valid" if answer.valid else
                                            "limited" if answer.outcome == "limited" else "invalid").inc()
        return answer
