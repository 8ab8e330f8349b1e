"""argon2id password hashing, off the event loop.

One hash costs tens of milliseconds of CPU; run on the loop it would stall
every other request of the process, so it runs in a worker thread.  The
threads are few (``password_hash_threads``, about the cores the process may
use): more would not hash faster, and each running hash holds its
``argon2_memory_kib`` of memory.  An unknown email still costs one verification
against a dummy hash, so the answer time does not tell whether the account
exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from prometheus_client import Histogram

from .settings import AuthSettings

# How much lower the hashing threads run than the rest of the process (a nice increment, Linux's per thread).
HASH_THREAD_NICENESS = 10


def _yield_to_the_event_loop() -> None:
    """Run this hashing thread at a lower CPU priority than the event loop.

    With every core hashing, the loop (which answers requests, and handles events between two awaits) waited
    for a time slice behind the hashes at each wake-up; lowered, the hashes get what the loop leaves, and the
    hashing rate is the same when nothing else wants the cores.  Where threads have no nice of their own,
    nothing changes."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), os.getpriority(os.PRIO_PROCESS, 0)
                       + HASH_THREAD_NICENESS)


class Passwords:
    def __init__(self, settings: AuthSettings, seconds: Histogram) -> None:
        self._hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
        )
        self._dummy = self._hasher.hash("not-a-password: equalizes the time of unknown-email logins")
        self._threads = ThreadPoolExecutor(settings.password_hash_threads, thread_name_prefix="argon2",
                                           initializer=_yield_to_the_event_loop)
        self._seconds = seconds  # by operation: the hash's own time, measured in its thread

    async def _run(self, operation: str, work, *args):
        def timed():
            with self._seconds.labels(operation).time():
                return work(*args)

        return await asyncio.get_running_loop().run_in_executor(self._threads, timed)

    async def hash(self, password: str) -> str:
        return await self._run("hash", self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        def check() -> bool:
            try:
                return self._hasher.verify(password_hash or self._dummy, password) and password_hash is not None
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

        return await self._run("verify", check)

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)
