"""Latency the gateway adds to one routed request: the same request to auth directly and through the gateway.

    TWOFOLD_DATA_DIR=... bash deploy/native/infra.sh start    # PostgreSQL and Kafka
    uv run --frozen python bench/gateway_latency.py \\
        --database-url postgresql+asyncpg://postgres:twofold-dev@127.0.0.1:25432/gateway_bench_auth \\
        --kafka 127.0.0.1:29092 [--requests 3000]

Starts auth and a gateway in front of it (their own processes, development
settings, access logs on as in production), warms both paths up, then sends
the requests one at a time, alternating direct and routed so both see the same
machine.  Two requests: ``GET /.well-known/jwks.json`` (the cheapest routed
answer) and ``POST /api/auth/login`` with an empty body (a 422 from auth's
validation: a JSON body both ways, and no argon2, which would drown the
difference).  The load generator shares the machine with both processes.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from twofold_common.testing.processes import ServiceProcess, free_port

REQUESTS = {
    "GET /.well-known/jwks.json": ("GET", "/.well-known/jwks.json", None, 200),
    "POST /api/auth/login (422)": ("POST", "/api/auth/login", {}, 422),
}


def summary(seconds: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(seconds, n=100)
    return statistics.median(seconds) * 1000, cuts[98] * 1000


async def measure(direct_url: str, gateway_url: str, count: int) -> None:
    async with httpx.AsyncClient(base_url=direct_url) as direct, httpx.AsyncClient(base_url=gateway_url) as routed:
        for label, (method, path, body, expected) in REQUESTS.items():
            timings: dict[str, list[float]] = {"direct": [], "gateway": []}
            for i in range(count + count // 10):
                for name, http in (("direct", direct), ("gateway", routed)):
                    started = time.perf_counter()
                    answer = await http.request(method, path, json=body)
                    elapsed = time.perf_counter() - started
                    assert answer.status_code == expected, (name, answer.status_code, answer.text)
                    if i >= count // 10:  # the first tenth warms pools and caches up
                        timings[name].append(elapsed)
            direct_p50, direct_p99 = summary(timings["direct"])
            gateway_p50, gateway_p99 = summary(timings["gateway"])
            print(f"{label}, {count} each: direct p50 {direct_p50:.2f} ms p99 {direct_p99:.2f} ms; "
                  f"gateway p50 {gateway_p50:.2f} ms p99 {gateway_p99:.2f} ms; "
                  f"added p50 {gateway_p50 - direct_p50:.2f} ms p99 {gateway_p99 - direct_p99:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True, help="auth's database (created when missing)")
    parser.add_argument("--kafka", required=True)
    parser.add_argument("--requests", type=int, default=3000, help="measured requests per path and per route")
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    auth_port, gateway_port = free_port(), free_port()
    auth = ServiceProcess("auth-bench", "twofold_auth", {
        "AUTH_PORT": str(auth_port), "AUTH_DATABASE_URL": args.database_url, "AUTH_KAFKA_BOOTSTRAP": args.kafka,
    }, auth_port, logs)
    gateway = ServiceProcess("gateway-bench", "twofold_gateway", {
        "GATEWAY_PORT": str(gateway_port), "GATEWAY_KAFKA_BOOTSTRAP": args.kafka, "GATEWAY_AUTH_URL": auth.url,
        # one address sends everything here: the per-ip limit would measure itself
        "GATEWAY_OPEN_RATE_PER_SECOND": "1000000", "GATEWAY_OPEN_BURST": "1000000",
    }, gateway_port, logs)
    auth.start()
    try:
        gateway.start()
        try:
            asyncio.run(measure(auth.url, gateway.url, args.requests))
        finally:
            gateway.stop()
    finally:
        auth.stop()


if __name__ == "__main__":
    main()
