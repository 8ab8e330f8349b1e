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


def _lowered(niceness: int) -> None:
    """Run this hashing thread ``niceness`` steps below the rest of the process (Linux gives each thread its own
    nice; elsewhere nothing changes).

    With every core hashing, the event loop (requests, and events handled between two awaits) waits for a
    time slice behind the hashes at each wake-up; lowered, the hashes get what the loop leaves. But they also
    give way to every other process of the same CPU group: with the services side by side on one machine,
    10 steps halved the logins a second (``AUTH_PASSWORD_HASH_NICENESS``)."""
    if niceness:
        with contextlib.suppress(AttributeError, OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(),
                           os.getpriority(os.PRIO_PROCESS, 0) + niceness)


class Passwords:
    def __init__(self, settings: AuthSettings, seconds: Histogram) -> None:
        self._hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
        )
        self._dummy = self._hasher.hash("not-a-password: equalizes the time of unknown-email logins")
        self._threads = ThreadPoolExecutor(settings.password_hash_threads, thread_name_prefix="argon2",
                                           initializer=_lowered, initargs=(settings.password_hash_niceness,))
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
