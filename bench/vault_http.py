"""Verifications per second of the vault's internal verify endpoint, over HTTP, against a real vault process.

    TWOFOLD_DATA_DIR=... bash deploy/native/infra.sh start    # PostgreSQL and Kafka
    uv run --frozen python bench/vault_http.py \\
        --database-url postgresql://postgres:twofold-dev@127.0.0.1:25432/vault_bench \\
        --kafka 127.0.0.1:29092 [--clients 32] [--seconds 10] [--seeds 200]

Starts a vault (its own process, development settings, the database created if
missing), enrolls ``--seeds`` subjects, then runs ``--clients`` concurrent
clients for ``--seconds``, each posting the current code of a random subject:
the full path of a verification (select, decrypt, window check, the atomic
UPDATE of the replay guard, commit).  Most answers are "replayed", which costs
the same as an accepted code.  The load generator shares the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import pyotp

from twofold_common.testing.http import dev_internal_auth
from twofold_common.testing.processes import ServiceProcess, free_port


async def enroll(vault: str, count: int) -> list[tuple[str, pyotp.TOTP]]:
    seeds = []
    async with dev_internal_auth("registration").client("vault", vault) as http:
        for _ in range(count):
            subject, totp = f"bench-{uuid.uuid4()}", pyotp.TOTP(pyotp.random_base32(32))
            response = await http.post("/internal/seeds", json={
                "subject": subject, "seed": totp.secret, "code": totp.now(), "provider": "legitate",
                "registrationId": str(uuid.uuid4())})
            response.raise_for_status()
            seeds.append((subject, totp))
    return seeds


async def load(vault: str, seeds: list[tuple[str, pyotp.TOTP]], clients: int, seconds: float) -> None:
    latencies: list[float] = []
    outcomes: dict[str, int] = {}
    deadline = time.perf_counter() + seconds

    async def client(http: httpx.AsyncClient) -> None:
        while time.perf_counter() < deadline:
            subject, totp = random.choice(seeds)
            started = time.perf_counter()
            response = await http.post("/internal/verify", json={"subject": subject, "code": totp.now()})
            latencies.append(time.perf_counter() - started)
            body = response.json() if response.status_code == 200 else {"reason": str(response.status_code)}
            key = "valid" if body.get("valid") else body.get("reason", "?")
            outcomes[key] = outcomes.get(key, 0) + 1

    async with dev_internal_auth("auth").client("vault", vault) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        elapsed = time.perf_counter() - started
    quantiles = statistics.quantiles(latencies, n=100)
    print(f"{len(latencies)} verifications in {elapsed:.1f} s with {clients} clients: "
          f"{len(latencies) / elapsed:,.0f} /s; p50 {quantiles[49] * 1000:.1f} ms, p99 {quantiles[98] * 1000:.1f} ms; "
          f"outcomes {outcomes}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--kafka", required=True)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--seeds", type=int, default=200)
    args = parser.parse_args()
    port = free_port()
    vault = ServiceProcess("vault-bench", "twofold_vault", {
        "VAULT_PORT": str(port), "VAULT_DATABASE_URL": args.database_url, "VAULT_KAFKA_BOOTSTRAP": args.kafka,
        "VAULT_LOG_LEVEL": "WARNING",  # the development keys: the clients sign with them too
    }, port, Path(tempfile.mkdtemp(prefix="vault-bench-")))
    vault.start()
    try:
        seeds = asyncio.run(enroll(vault.url, args.seeds))
        asyncio.run(load(vault.url, seeds, args.clients, args.seconds))
    finally:
        vault.stop()


if __name__ == "__main__":
    main()
