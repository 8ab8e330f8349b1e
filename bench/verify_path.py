"""Apps' code checks through the gateway (``POST /api/v1/verify``): fresh codes per second and their latency.

    TWOFOLD_DATA_DIR=... bash deploy/native/infra.sh start    # PostgreSQL and Kafka
    uv run --frozen python bench/verify_path.py [--clients 16] [--checks 2000]

Starts vault, auth, registration and gateway as processes on a database of their own (development settings),
creates an app with the ``verify`` scope, enrolls ``--checks`` of its accounts straight in the vault (the call
registration makes when an enrollment completes, with the previous step's code), then has ``--clients``
concurrent clients check each account once, with the current step's code computed as it is sent: every check is
a fresh code, the path of a real accepted check (the gateway's API-key check, then the hops to the services that
decide it).  Reports checks per second, p50 and p99, the outcomes, and the CPU time each service process spent per
check (from /proc; PostgreSQL's own is not in it).  ``--profile DIR`` records each service with py-spy during the
measured checks (``DIR/verify-<service>.txt``, for ``bench/profile_summary.py DIR``).

The load generator shares the machine: compare figures of runs made in one window; the CPU per check is the figure
a busy machine disturbs least.  To measure another commit's
code with the same script, put that commit's ``src`` directories first on ``PYTHONPATH`` (the service processes
inherit it), e.g. a ``git archive`` of main unpacked in /tmp.
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

import httpx
import processes
import pyotp
from driver import bench_stack, caught_up

from twofold_common.testing.http import dev_internal_auth, signed_client
from twofold_common.testing.stack import ServiceStack

ENROLLING = 16  # enrollments at once
SERVICES = ("gateway", "auth", "vault")


def cpu_seconds(stack: ServiceStack) -> dict[str, float]:
    """User and system CPU time of each service's process so far."""
    return {name: processes.cpu_seconds(processes.pid_of(stack[name])) for name in SERVICES}


def profilers(stack: ServiceStack, directory: Path | None) -> list[subprocess.Popen]:
    """py-spy on each service until stopped, as ``./stack bench --profile`` records them."""
    if directory is None:
        return []
    return [processes.py_spy(processes.pid_of(stack[name]), directory / f"verify-{name}.txt") for name in SERVICES]


async def enroll(vault: str, client_id: str, count: int) -> list[tuple[str, pyotp.TOTP]]:
    """``count`` accounts of the app, each with a seed whose previous step is used (its enrollment code)."""
    accounts: list[tuple[str, pyotp.TOTP]] = []
    gate = asyncio.Semaphore(ENROLLING)

    async def one(http: httpx.AsyncClient) -> None:
        account, totp = f"bench-{uuid.uuid4().hex[:12]}", pyotp.TOTP(pyotp.random_base32(32))
        async with gate:
            for _ in range(2):  # a step may end between the code and the vault's check: once more
                response = await http.post("/internal/seeds", json={
                    "subject": f"{client_id}:{account}", "seed": totp.secret, "code": totp.at(time.time() - 30),
                    "provider": "legitate", "registrationId": str(uuid.uuid4())})
                if response.status_code != 422:
                    break
        response.raise_for_status()
        accounts.append((account, totp))

    async with signed_client(dev_internal_auth("registration"), "vault", vault) as http:
        await asyncio.gather(*(one(http) for _ in range(count)))
    return accounts


async def load(gateway: str, key: tuple[str, str], accounts: list[tuple[str, pyotp.TOTP]], clients: int) -> dict:
    latencies: list[float] = []
    outcomes: dict[str, int] = {}
    queue = list(accounts)

    async def client(http: httpx.AsyncClient) -> None:
        while queue:
            account, totp = queue.pop()
            started = time.perf_counter()
            response = await http.post("/api/v1/verify", json={"account": account, "code": totp.now()})
            latencies.append(time.perf_counter() - started)
            outcome = ("valid" if response.json()["valid"] else "invalid") if response.status_code == 200 \
                else str(response.status_code)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=gateway, auth=key, timeout=30, limits=limits) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        elapsed = time.perf_counter() - started
    quantiles = statistics.quantiles(latencies, n=100)
    return {"checks": len(latencies), "seconds": round(elapsed, 2), "clients": clients,
            "checksPerSecond": round(len(latencies) / elapsed, 1), "p50Ms": round(quantiles[49] * 1000, 1),
            "p99Ms": round(quantiles[98] * 1000, 1), "outcomes": outcomes}


async def main(clients: int, checks: int, profile: Path | None) -> None:
    async with bench_stack("verify-bench") as stack:
        await stack.start("vault", "auth", "registration", "gateway",
                          env={name: {f"{prefix}_LOG_LEVEL": "WARNING"}
                               for name, prefix in (("vault", "VAULT"), ("auth", "AUTH"),
                                                    ("registration", "REGISTRATION"), ("gateway", "GATEWAY"))})
        made = stack["auth"].command("create-client", "--name", "bench app", "--callback-url",
                                     "https://bench.example.com/cb", "--scope", "verify")
        app = json.loads(made.stdout.strip().splitlines()[-1])
        key = (app["clientId"], app["clientSecret"])
        warm = await enroll(stack["vault"].url, app["clientId"], clients)
        accounts = await enroll(stack["vault"].url, app["clientId"], checks)
        await load(stack["gateway"].url, key, warm, clients)  # connections opened, the API key cached
        await caught_up(stack)  # no earlier events handled in the measured window
        recording = profilers(stack, profile)
        before = cpu_seconds(stack)
        result = await load(stack["gateway"].url, key, accounts, clients)
        after = cpu_seconds(stack)
        for recorder in recording:
            recorder.send_signal(signal.SIGINT)  # py-spy writes its stacks when interrupted
            recorder.wait(timeout=60)
        result["cpuMsPerCheck"] = {name: round((after[name] - before[name]) * 1000 / checks, 2) for name in SERVICES}
        print(json.dumps(result))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--checks", type=int, default=2000)
    parser.add_argument("--profile", type=Path, help="record each service with py-spy during the checks, into DIR")
    args = parser.parse_args()
    asyncio.run(main(args.clients, args.checks, args.profile))
