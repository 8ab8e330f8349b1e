"""Hashing can run in threads that give way to the event loop: a busy login does not hold up the rest of auth."""

from __future__ import annotations

import os
import threading

import pytest
from prometheus_client import CollectorRegistry, Histogram

from twofold_auth.passwords import Passwords
from twofold_auth.settings import AuthSettings


@pytest.mark.parametrize("niceness", [0, 10])
async def test_hashes_run_the_set_steps_below_the_event_loop(niceness: int) -> None:
    seconds = Histogram("hash_seconds", "test", ["operation"], registry=CollectorRegistry())
    passwords = Passwords(AuthSettings(argon2_memory_kib=1024, argon2_time_cost=1,
                                       password_hash_niceness=niceness), seconds)
    stored = await passwords.hash("a password long enough")
    assert await passwords.verify(stored, "a password long enough")

    loop_nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    # asked from inside this instance's own hashing threads (other instances' threads live in this process too)
    for _ in range(4):
        hashing_nice = await passwords._run("probe", lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        assert hashing_nice == min(19, loop_nice + niceness)
