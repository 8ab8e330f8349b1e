"""Hashing runs in threads that give way to the event loop: a busy login does not hold up the rest of auth."""

from __future__ import annotations

import os
import threading

from prometheus_client import CollectorRegistry, Histogram

from twofold_auth.passwords import HASH_THREAD_NICENESS, Passwords
from twofold_auth.settings import AuthSettings


async def test_hashes_run_at_a_lower_cpu_priority_than_the_event_loop() -> None:
    seconds = Histogram("hash_seconds", "test", ["operation"], registry=CollectorRegistry())
    passwords = Passwords(AuthSettings(argon2_memory_kib=1024, argon2_time_cost=1), seconds)
    stored = await passwords.hash("a password long enough")
    assert await passwords.verify(stored, "a password long enough")

    loop_nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    hashing = [t for t in threading.enumerate() if t.name.startswith("argon2")]
    assert hashing
    for thread in hashing:
        assert thread.native_id is not None
        assert os.getpriority(os.PRIO_PROCESS, thread.native_id) == min(19, loop_nice + HASH_THREAD_NICENESS)
