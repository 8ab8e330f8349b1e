"""Where the services' resident memory goes: at start, and at its peak under password steps and under refreshes.

    TWOFOLD_DATA_DIR=... TWOFOLD_PG_PORT=... TWOFOLD_KAFKA_PORT=... bash deploy/native/infra.sh start
    TWOFOLD_DATA_DIR=... TWOFOLD_PG_PORT=... TWOFOLD_KAFKA_PORT=... \\
        uv run --frozen python bench/memory.py [--seconds 20] [--auth-env '{"AUTH_PASSWORD_HASH_THREADS": "1"}']

Starts the four services as ``bench/run.py`` does (``--auth-env`` adds settings to auth's), reads each one's RSS
once they are ready, enrolls ``--people`` people and signs each in once, then runs ``--seconds`` of password steps
(``--workers`` at once: auth's argon2 threads busy, scenario 1's memory shape) and as long of refresh rotations,
sampling every RSS ten times a second.  For auth it also gives the CPU time it spent per operation and, at its
peak, its biggest anonymous mappings: each hashing thread's argon2 block is one of ``argon2_memory_kib``
(19 MiB), so the peak reads as what every service holds after its start plus the hash blocks.  RSS is
RssAnon + RssFile + RssShmem, as in ``bench/run.py``'s results.  The load generator shares the machine: compare
runs made in one window.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
from pathlib import Path

import httpx
from driver import Driver, bench_stack, caught_up, next_step
from processes import Watched, pid_of, rss_mib
from run import say
from settings import PASSWORD, SERVICE_SETTINGS, SERVICES


def biggest_anonymous_mib(pid: int, count: int = 4) -> list[float]:
    """The resident MiB of the process's biggest anonymous mappings (the hash blocks, the heap's arenas)."""
    sizes, anonymous = [], False
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        fields = line.split()
        if not fields[0].endswith(":"):  # a mapping's first line: addresses, perms, offset, device, inode[, path]
            anonymous = len(fields) == 5 or fields[5] == "[heap]"
        elif fields[0] == "Rss:" and anonymous:
            sizes.append(round(int(fields[1]) / 1024, 1))
    return sorted(sizes, reverse=True)[:count]


async def load(pid: int, pids: dict[str, int], seconds: float, operations) -> dict:
    """Run ``operations`` (coroutines that return how many they did) while sampling every service's RSS."""
    peak = {name: 0.0 for name in pids}
    auth_regions: list[float] = []
    until = time.monotonic() + seconds
    auth = Watched("auth", pid)
    cpu_before = auth.cpu()

    async def sample() -> None:
        while time.monotonic() < until:
            for name, each in pids.items():
                now = rss_mib(each)
                if name == "auth" and now > peak[name]:
                    auth_regions[:] = biggest_anonymous_mib(each)
                peak[name] = max(peak[name], now)
            await asyncio.sleep(0.1)

    done = await asyncio.gather(sample(), *(operation(until) for operation in operations))
    count = sum(done[1:])
    return {"perSecond": round(count / seconds, 1),
            "authCpuMsPerOperation": round((auth.cpu() - cpu_before) * 1000 / max(count, 1), 2),
            "peakMiB": {name: round(value, 1) for name, value in peak.items()},
            "authBiggestAnonymousMiB": auth_regions}


async def main(args: argparse.Namespace) -> dict:
    env = {**SERVICE_SETTINGS, "auth": {**SERVICE_SETTINGS.get("auth", {}), **json.loads(args.auth_env)}}
    result: dict = {"authEnv": json.loads(args.auth_env), "seconds": args.seconds}
    async with bench_stack("memory") as stack:
        say("starting the services")
        await stack.start(*SERVICES, env=env)
        pids = {name: pid_of(stack[name]) for name in SERVICES}
        await caught_up(stack)  # the consumers past the broker's earlier events
        result["startMiB"] = {name: round(rss_mib(pid), 1) for name, pid in pids.items()}
        say(f"enrolling {args.people} people")
        driver = Driver(stack)
        people = await asyncio.gather(*(driver.person() for _ in range(args.people)))
        for person in people:
            await driver.callback(driver.accept(person))
        await next_step()
        tokens = [await driver.refresh_token(person) for person in people]
        await driver.aclose()
        result["afterSetupMiB"] = {name: round(rss_mib(pid), 1) for name, pid in pids.items()}
        addresses = itertools.count()

        async with httpx.AsyncClient(base_url=stack["gateway"].url, timeout=60) as client:
            async def post(path: str, body: dict) -> dict:
                n = next(addresses)
                answer = await client.post(path, json=body,
                                           headers={"X-Forwarded-For": f"198.18.{(n >> 8) & 255}.{n & 255}"})
                if answer.status_code != 200:
                    raise RuntimeError(f"{path} answered {answer.status_code}: {answer.text[:200]}")
                return answer.json()

            def password_steps(index: int):
                async def run(until: float) -> int:
                    done = 0
                    while time.monotonic() < until:
                        await post("/api/auth/login", {"email": people[index].email, "password": PASSWORD})
                        done += 1
                    return done
                return run

            def refreshes(index: int):
                async def run(until: float) -> int:
                    done = 0
                    while time.monotonic() < until:
                        tokens[index] = (await post("/api/auth/token/refresh",
                                                    {"refreshToken": tokens[index]}))["refreshToken"]
                        done += 1
                    return done
                return run

            say(f"{args.seconds} s of password steps, {args.workers} at once")
            result["passwordSteps"] = await load(pids["auth"], pids, args.seconds,
                                                 [password_steps(i % len(people)) for i in range(args.workers)])
            say(f"{args.seconds} s of refreshes, one client per session")
            result["refreshes"] = await load(pids["auth"], pids, args.seconds,
                                             [refreshes(i) for i in range(len(people))])
        result["afterLoadMiB"] = {name: round(rss_mib(pid), 1) for name, pid in pids.items()}
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20, help="seconds of each load")
    parser.add_argument("--workers", type=int, default=16, help="concurrent password steps (scenario 1: 16 VUs)")
    parser.add_argument("--people", type=int, default=24, help="enrolled people: the logins' and sessions' owners")
    parser.add_argument("--auth-env", default="{}", help="auth settings to add, as a JSON object of variables")
    print(json.dumps(asyncio.run(main(parser.parse_args())), indent=2))
