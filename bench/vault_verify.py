"""Verifications per second of the vault's pure computation, on one core.

    uv run --frozen python bench/vault_verify.py

Three levels: one HOTP value; a window check (three steps, what a wrong code
costs); and what the vault does per seed for a request: open the AES-GCM
ciphertext, then the window check.
"""

from __future__ import annotations

import os
import time
import timeit
import uuid

from twofold_vault.crypto import KeyRing
from twofold_vault.totp import TotpParameters, hotp, matching_steps


def per_second(stmt, number: int = 20_000, repeat: int = 5) -> float:
    return number / min(timeit.repeat(stmt, number=number, repeat=repeat))


def main() -> None:
    key, key512 = os.urandom(20), os.urandom(64)
    params = TotpParameters(digits=6, algorithm="SHA1", period=30)
    ring = KeyRing({"k": os.urandom(32)}, "k")
    seed_id = uuid.uuid4()
    sealed = ring.seal(seed_id, key)
    now = time.time()
    code = hotp(key, int(now // 30), digits=6)
    wrong = str((int(code) + 1) % 1_000_000).zfill(6)

    rows = [
        ("hotp (one HMAC-SHA1 + truncation)", lambda: hotp(key, 123456, digits=6)),
        ("window check, wrong code (3 steps)", lambda: matching_steps(key, wrong, now, params, 1)),
        ("window check, SHA512 8 digits", lambda: matching_steps(key512, wrong + "00", now,
                                                                  TotpParameters(8, "SHA512", 30), 1)),
        ("AES-GCM open + window check", lambda: matching_steps(ring.open(seed_id, sealed), wrong, now, params, 1)),
    ]
    for name, stmt in rows:
        print(f"{name:40s} {per_second(stmt):>12,.0f} /s")


if __name__ == "__main__":
    main()
