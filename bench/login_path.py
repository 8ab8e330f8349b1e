"""Full logins through the gateway (the password, then a TOTP code): logins per second, latency, and CPU per login.

    TWOFOLD_DATA_DIR=... bash deploy/native/infra.sh start    # PostgreSQL and Kafka
    uv run --frozen python bench/login_path.py [--clients 8] [--logins 400] [--profile DIR]

Starts vault, auth and gateway as processes on databases of their own (development settings, auth's argon2 cost as
in production), writes ``--logins`` enrolled accounts straight into auth's database (one password hash for all, as
registration would have stored it) with their seeds in the vault (the call registration makes when an enrollment
completes, with the previous step's code), then has ``--clients`` concurrent clients sign each account in once,
each login from an address of its own: ``POST /api/auth/login``, then ``/api/auth/login/2fa`` with the current
step's code computed as it is sent, so every code is fresh and every login ends in a session.  Reports logins per
second, p50 and p99 of the whole login, the outcomes, and the CPU time per login of each service process and of the
PostgreSQL backends serving this run's databases (from /proc), and auth's besides argon2: one verification's CPU
time at auth's cost, measured in the bench's own process, taken from auth's.

The load generator shares the machine: compare figures of runs made in one window, interleaved; the CPU per login
is the figure a busy machine disturbs least.  To measure another commit's code with the same script, put that
commit's ``src`` directories first on ``PYTHONPATH`` (the service processes inherit it), e.g. a ``git archive`` of
main unpacked in /tmp.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import statistics
import subprocess
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
import processes
import pyotp
from argon2 import PasswordHasher
from driver import bench_stack, caught_up

from twofold_common.db import to_libpq_url
from twofold_common.testing.http import dev_internal_auth, signed_client
from twofold_common.testing.stack import ServiceStack

PASSWORD = "a bench password that is long enough"
SERVICES = ("gateway", "auth", "vault")
ENROLLING = 16  # enrollments at once
# auth's argon2 defaults (AuthSettings): the stored hash costs what a production one does
ARGON2 = {"time_cost": 2, "memory_cost": 19_456, "parallelism": 1}


async def backends(stack: ServiceStack) -> list[int]:
    """The PostgreSQL backends connected to this run's databases."""
    url = to_libpq_url(stack["auth"].env["AUTH_DATABASE_URL"])
    names = [stack[name].env[f"{name.upper()}_DATABASE_URL"].rsplit("/", 1)[1] for name in ("auth", "vault")]
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch("SELECT pid FROM pg_stat_activity WHERE datname = ANY($1::text[]) "
                                      "AND pid <> pg_backend_pid()", names)
    finally:
        await connection.close()
    return [row["pid"] for row in rows]


async def cpu_seconds(stack: ServiceStack, known_backends: set[int]) -> dict[str, float]:
    """CPU seconds so far of each service process, and of the backends of this run's databases (``known_backends``
    grows with the ones seen now: a backend opened during the run counts from zero)."""
    known_backends.update(await backends(stack))
    spent = {name: processes.cpu_seconds(processes.pid_of(stack[name])) for name in SERVICES}
    spent["postgres"] = sum(processes.cpu_seconds(pid) for pid in known_backends)
    return spent


def argon2_cpu_seconds(hasher: PasswordHasher, password_hash: str, times: int = 10) -> float:
    """The CPU seconds of one password verification at auth's cost, measured in this process's thread: the hash's
    share of auth's CPU per login (its own histogram times the wall clock, which a busy machine stretches)."""
    started = time.thread_time()
    for _ in range(times):
        hasher.verify(password_hash, PASSWORD)
    return (time.thread_time() - started) / times


async def accounts(stack: ServiceStack, count: int, password_hash: str) -> list[tuple[str, pyotp.TOTP]]:
    """``count`` enrolled accounts: users with 2FA on in auth, each with a seed in the vault whose previous step
    is used (its enrollment code)."""
    people = [(uuid.uuid4(), f"bench-{uuid.uuid4().hex[:12]}@example.com", pyotp.TOTP(pyotp.random_base32(32)))
              for _ in range(count)]
    connection = await asyncpg.connect(to_libpq_url(stack["auth"].env["AUTH_DATABASE_URL"]))
    try:
        await connection.executemany(
            "INSERT INTO users (id, email, email_normalized, password_hash, status, totp_enabled, totp_seed_id, "
            "totp_provider, totp_setup_completed_at) VALUES ($1, $2, $2, $3, 'active', true, $4, 'legitate', now())",
            [(user_id, email, password_hash, f"seed_{user_id.hex[:12]}") for user_id, email, _ in people])
    finally:
        await connection.close()
    gate = asyncio.Semaphore(ENROLLING)

    async def enroll(http: httpx.AsyncClient, user_id: uuid.UUID, totp: pyotp.TOTP) -> None:
        async with gate:
            for _ in range(2):  # a step may end between the code and the vault's check: once more
                response = await http.post("/internal/seeds", json={
                    "subject": str(user_id), "seed": totp.secret, "code": totp.at(time.time() - 30),
                    "provider": "legitate", "registrationId": str(uuid.uuid4())})
                if response.status_code != 422:
                    break
        response.raise_for_status()

    async with signed_client(dev_internal_auth("registration"), "vault", stack["vault"].url) as http:
        await asyncio.gather(*(enroll(http, user_id, totp) for user_id, _, totp in people))
    return [(email, totp) for _, email, totp in people]


async def load(gateway: str, people: list[tuple[str, pyotp.TOTP]], clients: int) -> dict:
    latencies: list[float] = []
    outcomes: dict[str, int] = {}
    queue = list(enumerate(people))

    async def client(http: httpx.AsyncClient) -> None:
        while queue:
            n, (email, totp) = queue.pop()
            source = {"X-Forwarded-For": f"198.18.{(n >> 8) & 255}.{n & 255}"}  # one address per login
            started = time.perf_counter()
            response = await http.post("/api/auth/login", json={"email": email, "password": PASSWORD},
                                       headers=source)
            if response.status_code == 200 and response.json().get("status") == "2fa_required":
                response = await http.post("/api/auth/login/2fa", headers=source, json={
                    "challengeToken": response.json()["challengeToken"], "code": totp.now()})
                outcome = "session" if response.status_code == 200 else f"code {response.status_code}"
            else:
                outcome = f"password {response.status_code}"
            latencies.append(time.perf_counter() - started)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=gateway, timeout=60, limits=limits) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        elapsed = time.perf_counter() - started
    quantiles = statistics.quantiles(latencies, n=100)
    return {"logins": len(latencies), "seconds": round(elapsed, 2), "clients": clients,
            "loginsPerSecond": round(len(latencies) / elapsed, 1), "p50Ms": round(quantiles[49] * 1000, 1),
            "p99Ms": round(quantiles[98] * 1000, 1), "outcomes": outcomes}


def profilers(stack: ServiceStack, profile: Path | None) -> list[subprocess.Popen]:
    """py-spy recording each service's threads into ``profile/login-<service>.txt`` (collapsed stacks, for
    ``bench/profile_summary.py``) until it is interrupted."""
    if profile is None:
        return []
    return [processes.py_spy(processes.pid_of(stack[name]), profile / f"login-{name}.txt") for name in SERVICES]


async def main(clients: int, logins: int, profile: Path | None) -> None:
    async with bench_stack("login-bench") as stack:
        await stack.start("vault", "auth", "gateway", env={
            "vault": {"VAULT_LOG_LEVEL": "WARNING"}, "auth": {"AUTH_LOG_LEVEL": "WARNING"},
            # every login from an address of its own (X-Forwarded-For), as k6's: the per-ip limits stay
            "gateway": {"GATEWAY_LOG_LEVEL": "WARNING", "GATEWAY_TRUSTED_PROXIES": '["127.0.0.1/32"]'}})
        hasher = PasswordHasher(**ARGON2)
        password_hash = hasher.hash(PASSWORD)
        warm = await accounts(stack, clients, password_hash)
        people = await accounts(stack, logins, password_hash)
        await load(stack["gateway"].url, warm, clients)  # connections opened, statements prepared
        await caught_up(stack)  # no earlier events handled in the measured window
        known: set[int] = set()
        recording = profilers(stack, profile)
        before = await cpu_seconds(stack, known)
        result = await load(stack["gateway"].url, people, clients)
        after = await cpu_seconds(stack, known)
        for recorder in recording:
            recorder.send_signal(signal.SIGINT)
            recorder.wait(timeout=60)
        result["cpuMsPerLogin"] = {name: round((after[name] - before[name]) * 1000 / logins, 2) for name in after}
        argon2 = argon2_cpu_seconds(hasher, password_hash) * 1000
        result["cpuMsPerLogin"]["auth besides argon2"] = round(result["cpuMsPerLogin"]["auth"] - argon2, 2)
        result["argon2CpuMsPerHash"] = round(argon2, 2)
        print(json.dumps(result))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--logins", type=int, default=400)
    parser.add_argument("--profile", type=Path, help="also record each service with py-spy during the logins "
                                                     "(collapsed stacks in this directory)")
    args = parser.parse_args()
    asyncio.run(main(args.clients, args.logins, args.profile))
