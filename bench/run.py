"""The benchmark: a fresh stack on this machine, its hot paths under load, each beside its bound.

    ./stack bench            # the full run (about 4 minutes)
    ./stack bench --smoke    # a few seconds per scenario, no targets: CI runs it so the harness can't rot

Starts PostgreSQL and Kafka (``deploy/native/infra.sh``) and the four services as their own processes
on fresh databases, measures the bounds (one argon2id hash with auth's settings, one PostgreSQL round
trip, one Kafka produce-to-consume, a trivial endpoint of the gateway), then runs the scenarios through
the gateway with k6 (a separate, compiled load generator; built once with ``go install``), and writes
``bench/results/<mode>-<time>.json`` and ``.md``.  Setup (registering users, the second factor of the
sessions that scenario 3 refreshes) and the trickle of registrations whose events are timed are done by
this Python process, outside every measured figure.

Settings that differ from a production deployment, and why, are listed in the results.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import math
import os
import platform
import random
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from argon2 import PasswordHasher

from twofold_auth.settings import AuthSettings
from twofold_common.db import to_libpq_url
from twofold_common.kafka import ensure_topics
from twofold_common.testing.infra import Infra, drop_databases, new_database, provide_infra
from twofold_common.testing.provider import Enrollment, SimpleTotp
from twofold_common.testing.stack import ServiceStack

ROOT = Path(__file__).resolve().parents[1]
K6_VERSION = "v1.8.1"
PERIOD = 30  # the production TOTP step
PASSWORD = "a bench password that is long enough"
SERVICES = ("gateway", "auth", "registration", "vault")

# Changed from a production deployment for the bench, and why (reported with the results).
BENCH_SETTINGS = {
    "gateway": {"GATEWAY_TRUSTED_PROXIES": '["127.0.0.1/32"]'},
    "auth": {"AUTH_ATTEMPT_LIMIT": "1000000"},
}
BENCH_SETTINGS_WHY = {
    "GATEWAY_TRUSTED_PROXIES": "k6 plays many users from many addresses (X-Forwarded-For in 198.18.0.0/15); "
                               "the per-ip limits stay as in production",
    "AUTH_ATTEMPT_LIMIT": "scenario 2 checks a few hundred accounts many times a second; the limit's "
                          "bookkeeping (lock, count, insert, settle) runs as in production",
}


@dataclass
class Mode:
    name: str
    seconds: float      # per load scenario
    users: int          # logins of scenario 1 (each user signs in once)
    sessions: int       # refreshed in scenario 3
    accounts: int       # third-party app accounts checked in scenario 2
    trickle: int        # registrations timed in scenario 5, at idle and again under scenario 1
    vus: dict[str, int] = field(default_factory=dict)


FULL = Mode("full", seconds=20, users=0, sessions=64, accounts=200, trickle=40,
            vus={"trivial": 32, "login": 16, "verify": 32, "refresh": 32, "callback": 16})
SMOKE = Mode("smoke", seconds=3, users=40, sessions=8, accounts=10, trickle=5,
             vus={"trivial": 4, "login": 4, "verify": 4, "refresh": 4, "callback": 4})


STARTED = time.monotonic()


def say(message: str) -> None:
    print(f"bench: {time.monotonic() - STARTED:6.1f} s  {message}", file=sys.stderr, flush=True)


def quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


# ---------------------------------------------------------------------------------------------- processes

def _children(pid: int) -> list[int]:
    try:
        found = []
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(c) for c in (task / "children").read_text().split()]
        return found
    except OSError:
        return []


def _tree(pid: int) -> list[int]:
    pids, queue = [], [pid]
    while queue:
        current = queue.pop()
        pids.append(current)
        queue += _children(current)
    return pids


def _cpu_seconds(pid: int, *, ended_children: bool = False) -> float:
    """User and system CPU of the process (and, if asked, of its children that ended and were waited for)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if ended_children else 0)
        return ticks / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


def _status_kib(pid: int) -> dict[str, int]:
    """The memory lines of /proc/<pid>/status (cheap to read, unlike smaps), in KiB."""
    try:
        return {line.split(":")[0]: int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text()
                .splitlines() if line.startswith("Rss")}
    except OSError:
        return {}


def _rss_mib(pid: int) -> float:
    status = _status_kib(pid)
    return sum(status.get(k, 0) for k in ("RssAnon", "RssFile", "RssShmem")) / 1024


@dataclass
class Watched:
    name: str
    pid: int
    tree: bool = False   # PostgreSQL: the postmaster and its backends; what they share is counted once

    def pids(self) -> list[int]:
        return _tree(self.pid) if self.tree else [self.pid]

    def cpu(self) -> float:
        # a backend that ended during the scenario is counted in the postmaster's children time
        return sum(_cpu_seconds(p, ended_children=self.tree and p == self.pid) for p in self.pids())

    def memory(self) -> float:
        if not self.tree:
            return _rss_mib(self.pid)
        # private memory of each process, plus the shared (its files and shared buffers) once
        each = [_status_kib(p) for p in self.pids()]
        shared = (max((s.get(kind, 0) for s in each), default=0) for kind in ("RssFile", "RssShmem"))
        return (sum(s.get("RssAnon", 0) for s in each) + sum(shared)) / 1024


class Usage:
    """CPU and peak memory of every process of the system while a scenario runs."""

    def __init__(self, watched: list[Watched]) -> None:
        self.watched = watched

    @asynccontextmanager
    async def during(self):
        watched = self.watched
        start_cpu = {w.name: w.cpu() for w in watched}
        peak = {w.name: w.memory() for w in watched}
        started = time.perf_counter()
        report: dict = {}
        stop = asyncio.Event()

        async def sample() -> None:
            while not stop.is_set():
                for w in watched:
                    peak[w.name] = max(peak[w.name], w.memory())
                try:
                    await asyncio.wait_for(stop.wait(), 1.0)
                except TimeoutError:
                    pass

        sampler = asyncio.create_task(sample())
        try:
            yield report
        finally:
            stop.set()
            await sampler
            wall = time.perf_counter() - started
            report["wallSeconds"] = round(wall, 3)
            report["cores"] = {w.name: round((w.cpu() - start_cpu[w.name]) / wall, 2) for w in watched}
            report["peakMemoryMiB"] = {w.name: round(peak[w.name], 1) for w in watched}


# ---------------------------------------------------------------------------------------------- k6

def k6_binary() -> str:
    """k6 from PATH if it is the pinned version, else built once into .data/tools with the Go toolchain."""
    on_path = shutil.which("k6")
    if on_path and K6_VERSION in subprocess.run([on_path, "version"], capture_output=True, text=True).stdout:
        return on_path
    data = Path(os.environ.get("TWOFOLD_DATA_DIR", ROOT / ".data"))
    target = data / "tools" / f"k6-{K6_VERSION}"
    if not (target / "k6").exists():
        go = shutil.which("go") or next((g for g in ("/usr/local/go/bin/go", "/usr/lib/go/bin/go") if Path(g).exists()),
                                        None)
        if go is None:
            sys.exit("bench: k6 is needed; install it, or Go (to build it with `go install go.k6.io/k6`)")
        print(f"bench: building k6 {K6_VERSION} with {go} (once)", file=sys.stderr, flush=True)
        subprocess.run([go, "install", f"go.k6.io/k6@{K6_VERSION}"], check=True,
                       env={**os.environ, "GOBIN": str(target), "CGO_ENABLED": "0"})
    return str(target / "k6")


@dataclass
class K6:
    binary: str
    base_url: str
    work: Path
    usage: Usage
    services: dict[str, int]        # name -> pid, for --profile
    profile: Path | None = None     # py-spy's collapsed stacks of every service, one file per scenario

    async def run(self, scenario: str, data: dict, *, vus: int, seconds: float) -> dict:
        data_file, summary = self.work / f"{scenario}-data.json", self.work / f"{scenario}-summary.json"
        data_file.write_text(json.dumps(data))
        env = {**os.environ, "SCENARIO": scenario, "BASE_URL": self.base_url, "DATA": str(data_file),
               "SUMMARY": str(summary), "VUS": str(vus), "SECONDS": str(seconds), "K6_NO_USAGE_REPORT": "true"}
        profilers = self._profilers(scenario)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)  # k6 is the only child that ends in between
        async with self.usage.during() as usage:
            process = await asyncio.create_subprocess_exec(
                self.binary, "run", "--quiet", "--no-color", str(ROOT / "bench" / "k6" / "scenarios.js"), env=env,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
            peak = asyncio.create_task(_peak_memory(process))
            output, _ = await process.communicate()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        usage["cores"]["k6"] = round((after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
                                     / usage["wallSeconds"], 2)
        usage["peakMemoryMiB"]["k6"] = await peak
        for profiler in profilers:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(30)
        if process.returncode not in (0, 99):  # 99: thresholds crossed (none are set)
            raise RuntimeError(f"k6 {scenario} exited {process.returncode}:\n{output.decode()[-3000:]}")
        warnings = [line for line in output.decode().splitlines() if "level=warning" in line][:3]
        return scenario_result(json.loads(summary.read_text()), usage, warnings)

    def _profilers(self, scenario: str) -> list[subprocess.Popen]:
        if self.profile is None:
            return []
        self.profile.mkdir(parents=True, exist_ok=True)
        return [subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--format", "raw",
                                  "--rate", "250", "--gil", "--nonblocking", "--pid", str(pid),
                                  "--output", str(self.profile / f"{scenario}-{name}.txt")],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                for name, pid in self.services.items()]


async def _peak_memory(process: asyncio.subprocess.Process) -> float:
    peak = 0.0
    while process.returncode is None:
        peak = max(peak, _rss_mib(process.pid))
        await asyncio.sleep(1.0)
    return round(peak, 1)


def scenario_result(summary: dict, usage: dict, warnings: list[str]) -> dict:
    metrics = summary["metrics"]
    seconds = summary["state"]["testRunDurationMs"] / 1000

    def count(name: str) -> int:
        return int(metrics.get(name, {}).get("values", {}).get("count", 0))

    operation = metrics.get("operation", {}).get("values", {})
    done = count("succeeded")
    return {
        "operations": done, "errors": count("failed"), "rejected": count("rejected"),
        "seconds": round(seconds, 2), "perSecond": round(done / seconds, 1),
        "p50Ms": _round(operation.get("p(50)")), "p99Ms": _round(operation.get("p(99)")),
        "httpRequests": count("http_reqs"), **usage, "k6Warnings": warnings,
    }


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


# ---------------------------------------------------------------------------------------------- bounds

def argon2_bound(samples: int) -> dict:
    settings = AuthSettings()
    hasher = PasswordHasher(time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_kib,
                            parallelism=settings.argon2_parallelism)
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        hasher.hash(PASSWORD)
        times.append(time.perf_counter() - started)
    median = statistics.median(times)
    cores = os.cpu_count() or 1
    return {"parameters": {"timeCost": settings.argon2_time_cost, "memoryKiB": settings.argon2_memory_kib,
                           "parallelism": settings.argon2_parallelism},
            "medianMs": round(median * 1000, 2), "samples": samples, "cores": cores,
            "loginsPerSecondBound": round(cores / median, 1)}


async def postgres_bound(infra: Infra, samples: int) -> dict:
    connection = await asyncpg.connect(to_libpq_url(infra.pg_admin_url))
    try:
        if await connection.fetchval("SHOW track_commit_timestamp") != "on":
            sys.exit("bench: PostgreSQL runs without track_commit_timestamp (it was started before infra.sh set it): "
                     "restart it with `./stack down && ./stack up` or `deploy/native/infra.sh stop` + `start`")
        statement = await connection.prepare("SELECT 1")
        times = []
        for _ in range(samples):
            started = time.perf_counter()
            await statement.fetchval()
            times.append((time.perf_counter() - started) * 1000)
    finally:
        await connection.close()
    return {"query": "SELECT 1 (prepared, asyncpg)", "samples": samples,
            "p50Ms": _round(quantile(times, 0.5), 3), "p99Ms": _round(quantile(times, 0.99), 3)}


async def kafka_bound(infra: Infra, samples: int) -> dict:
    """One message produced with acks=all and received by a consumer that is already polling."""
    topic = f"bench-roundtrip-{uuid.uuid4().hex[:8]}"
    await ensure_topics(infra.kafka_bootstrap, [topic], partitions=1, replication=1, retention_hours=168)
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all", linger_ms=0)
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=infra.kafka_bootstrap, auto_offset_reset="earliest",
                                fetch_max_wait_ms=500)
    await producer.start()
    await producer.send_and_wait(topic, b"warm-up")
    await consumer.start()
    await consumer.getone()
    times = []
    try:
        for _ in range(samples):
            started = time.perf_counter()
            await producer.send_and_wait(topic, b"x")
            await consumer.getone()
            times.append((time.perf_counter() - started) * 1000)
    finally:
        await consumer.stop()
        await producer.stop()
    return {"path": "produce (acks=all) -> consumer poll, aiokafka", "samples": samples,
            "p50Ms": _round(quantile(times, 0.5)), "p99Ms": _round(quantile(times, 0.99))}


# ---------------------------------------------------------------------------------------------- setup

@dataclass
class Person:
    email: str
    deep_link: str
    enrollment: Enrollment | None = None


class Driver:
    """Setup and the timed trickle, through the gateway like everyone else (not part of any figure)."""

    def __init__(self, stack: ServiceStack, concurrency: int = 8) -> None:
        self.stack = stack
        self.api = httpx.AsyncClient(base_url=stack["gateway"].url, timeout=60)
        self.provider = SimpleTotp(period=PERIOD)
        self.limit = asyncio.Semaphore(concurrency)
        self.counter = 0

    def _ip(self) -> dict[str, str]:
        self.counter += 1  # a fresh address each time: setup is not what the per-ip limits are for
        return {"X-Forwarded-For": f"198.19.{(self.counter >> 8) & 255}.{self.counter & 255}"}

    async def _post(self, path: str, **kwargs) -> dict:
        async with self.limit:
            answer = await self.api.post(path, headers={**kwargs.pop("headers", {}), **self._ip()}, **kwargs)
        if answer.status_code not in (200, 201):
            raise RuntimeError(f"setup: POST {path} answered {answer.status_code}: {answer.text[:300]}")
        return answer.json()

    async def person(self) -> Person:
        email = f"bench-{uuid.uuid4().hex[:12]}@example.com"
        registered = await self._post("/api/auth/register", json={"email": email, "password": PASSWORD})
        started = await self._post("/api/auth/setup-2fa", json={},
                                   headers={"Authorization": f"Bearer {registered['setupToken']}"})
        return Person(email, started["deepLink"])

    def create_app(self) -> dict:
        done = self.stack["auth"].command("create-client", "--name", "bench app")
        if done.returncode != 0:
            raise RuntimeError(f"create-client failed: {done.stderr}")
        return json.loads(done.stdout.strip().splitlines()[-1])

    async def app_account(self, authorization: str, account: str) -> Person:
        started = await self._post("/api/v1/setup", json={"account": account},
                                   headers={"Authorization": authorization})
        return Person(account, started["deepLink"])

    def accept(self, person: Person) -> str:
        """The provider's side: a seed and its current code; the callback path to send the browser to."""
        url, person.enrollment = self.provider.accept(person.deep_link)
        return url[len(self.stack["gateway"].url):]

    async def callback(self, path: str) -> None:
        answer = await self.api.get(path, headers=self._ip())
        if answer.status_code != 200:
            raise RuntimeError(f"callback answered {answer.status_code}: {answer.text[:300]}")

    async def refresh_token(self, person: Person) -> str:
        challenge = await self._post("/api/auth/login", json={"email": person.email, "password": PASSWORD})
        if challenge.get("status") != "2fa_required":
            raise RuntimeError(f"setup: {person.email} is not enrolled: {challenge.get('status')}")
        step = person.enrollment.current_step()
        pair = await self._post("/api/auth/login/2fa", json={"challengeToken": challenge["challengeToken"],
                                                              "code": person.enrollment.code_at(step)})
        return pair["refreshToken"]

    async def aclose(self) -> None:
        await self.api.aclose()


def codes(person: Person, seconds: float) -> dict[str, str]:
    """The person's code for every time step the next ``seconds`` can touch."""
    now = person.enrollment.current_step()
    last = int((time.time() + seconds + 15) // PERIOD)
    return {str(step): person.enrollment.code_at(step) for step in range(now, last + 1)}


async def wait_for_fresh_step(people: list[Person]) -> None:
    """A login's code must be of a later time step than the one enrollment used (each step is accepted once)."""
    used = max(p.enrollment.last_step for p in people)
    while int(time.time()) // PERIOD <= used:
        await asyncio.sleep(0.2)


# ---------------------------------------------------------------------------------------------- events

async def _commits(stack: ServiceStack, since: datetime) -> tuple[dict, dict]:
    """Commit times of ``registration.completed`` events: written by registration, handled by auth."""

    async def commits(service: str, query: str) -> dict[uuid.UUID, datetime]:
        connection = await asyncpg.connect(to_libpq_url(stack[service].env[f"{service.upper()}_DATABASE_URL"]))
        try:
            return {row[0]: row[1] for row in await connection.fetch(query, since)}
        finally:
            await connection.close()

    written = await commits("registration", "SELECT event_id, pg_xact_commit_timestamp(xmin) FROM outbox_events "
                                            "WHERE event_type = 'registration.completed.v1' "
                                            "AND pg_xact_commit_timestamp(xmin) >= $1")
    handled = await commits("auth", "SELECT event_id, pg_xact_commit_timestamp(xmin) FROM processed_events "
                                    "WHERE event_type = 'registration.completed.v1' AND outcome = 'handled' "
                                    "AND pg_xact_commit_timestamp(xmin) >= $1")
    return written, handled


async def propagation(stack: ServiceStack, since: datetime, expected: int, timeout: float = 120) -> dict:
    """Once auth has handled the ``expected`` registrations completed since ``since`` (each activates its
    user or app account): the milliseconds from each commit in registration to the commit in auth."""
    deadline = time.monotonic() + timeout
    while True:
        written, handled = await _commits(stack, since)
        if len(written) >= expected and written.keys() <= handled.keys():
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"auth handled {len(written.keys() & handled.keys())} of {expected} "
                               f"completed registrations in {timeout} s")
        await asyncio.sleep(0.2)
    values = [(handled[e] - w).total_seconds() * 1000 for e, w in written.items()]
    return {"events": len(values), "p50Ms": _round(quantile(values, 0.5)), "p99Ms": _round(quantile(values, 0.99)),
            "maxMs": _round(max(values))}


async def trickle(driver: Driver, people: list[Person], interval: float) -> datetime:
    """Registrations completed one at a time, ``interval`` apart; returns when the first was sent."""
    started = datetime.now(UTC)
    for person in people:
        await driver.callback(driver.accept(person))
        await asyncio.sleep(interval)
    return started


# ---------------------------------------------------------------------------------------------- the run

async def bench(mode: Mode, profile: Path | None) -> dict:
    os.environ.setdefault("TWOFOLD_TEST_NATIVE", "1")  # commit timestamps are switched on by infra.sh
    k6 = k6_binary()
    infra = provide_infra(ROOT)
    work = Path(tempfile.mkdtemp(prefix="twofold-bench-"))
    databases: list[str] = []

    async def database(prefix: str) -> str:
        databases.append(await new_database(infra, f"bench_{prefix}"))
        return databases[-1]

    stack = ServiceStack(infra, database, work / "logs")
    result: dict = {"mode": mode.name, "startedAt": datetime.now(UTC).isoformat(timespec="seconds"),
                    "machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                                "kernel": platform.release()},
                    "loadGenerator": {"tool": f"k6 {K6_VERSION}", "note": "one scenario per k6 process; its CPU "
                                      "is reported per scenario as cores.k6"},
                    "settingsChangedForBench": {k: {"value": v, "why": BENCH_SETTINGS_WHY[k]}
                                                for env in BENCH_SETTINGS.values() for k, v in env.items()}}
    try:
        say("bounds")
        small = mode.name == "smoke"
        # measured on the quiet machine, before the services start
        result["bounds"] = {
            "argon2": argon2_bound(10 if small else 30),
            "postgresRoundTrip": await postgres_bound(infra, 200 if small else 2000),
            "kafkaRoundTrip": await kafka_bound(infra, 50 if small else 200),
        }

        say("starting the services")
        await stack.start("vault", "auth", "registration", "gateway", env=BENCH_SETTINGS)
        with Path(os.environ.get("TWOFOLD_DATA_DIR", ROOT / ".data"), "run", "postgres.pid").open() as f:
            postgres = int(f.read().split()[0])
        with Path(os.environ.get("TWOFOLD_DATA_DIR", ROOT / ".data"), "run", "kafka.pid").open() as f:
            kafka = int(f.read().split()[0])
        watched = [Watched(name, stack[name].proc.pid) for name in SERVICES]
        watched += [Watched("postgres", postgres, tree=True), Watched("kafka", kafka),
                    Watched("bench-driver", os.getpid())]
        usage = Usage(watched)
        load = K6(k6, stack["gateway"].url, work, usage, {n: stack[n].proc.pid for n in SERVICES}, profile)
        driver = Driver(stack)
        # one registration end to end: the consumers have joined their groups before anything is timed
        warm_up = datetime.now(UTC)
        await driver.callback(driver.accept(await driver.person()))
        await propagation(stack, warm_up, 1)
        result["idleMemoryMiB"] = {w.name: round(w.memory(), 1) for w in watched}
        result["bounds"]["trivialEndpoint"] = {
            "path": "GET /healthz on the gateway",
            **await load.run("trivial", {}, vus=mode.vus["trivial"], seconds=mode.seconds)}
        users = mode.users or int(result["bounds"]["argon2"]["loginsPerSecondBound"] * mode.seconds * 1.3)

        say(f"setup ({users + mode.sessions + 2 * mode.trickle} people, {mode.accounts} app accounts)")
        app = driver.create_app()
        authorization = "Basic " + base64.b64encode(f"{app['clientId']}:{app['clientSecret']}".encode()).decode()
        people = await asyncio.gather(*(driver.person() for _ in range(users + mode.sessions + 2 * mode.trickle)))
        login_people, session_people = people[:users], people[users:users + mode.sessions]
        idle_people, loaded_people = people[users + mode.sessions::2], people[users + mode.sessions + 1::2]
        accounts = await asyncio.gather(*(driver.app_account(authorization, f"acct-{i}") for i in range(mode.accounts)))

        say("scenario 4, provider callbacks")
        enrolled = [*login_people, *session_people, *accounts]
        random.shuffle(enrolled)
        since = datetime.now(UTC)
        paths = [driver.accept(p) for p in enrolled]
        # every registration of the run is completed here (the later scenarios need them): no time limit
        result["callback"] = await load.run("callback", {"paths": paths}, vus=mode.vus["callback"], seconds=600)
        result["propagationDuringCallbacks"] = await propagation(stack, since, len(enrolled))

        say("scenario 5 at idle")
        since = await trickle(driver, idle_people, 0.25)
        result["propagationIdle"] = await propagation(stack, since, len(idle_people))

        say("scenario 2, third-party verify")
        result["verify"] = await load.run("verify", {
            "authorization": authorization,
            "accounts": [{"account": a.email, "codes": codes(a, mode.seconds)} for a in accounts],
        }, vus=mode.vus["verify"], seconds=mode.seconds)

        await wait_for_fresh_step([*login_people, *session_people])
        tokens = await asyncio.gather(*(driver.refresh_token(p) for p in session_people))

        say("scenario 1, full logins (and scenario 5 under it)")
        logins = load.run("login", {"users": [{"email": p.email, "password": PASSWORD,
                                               "codes": codes(p, mode.seconds * 2)} for p in login_people]},
                          vus=mode.vus["login"], seconds=mode.seconds)

        async def loaded_trickle() -> datetime:
            await asyncio.sleep(min(2.0, mode.seconds / 4))
            return await trickle(driver, loaded_people, max(0.05, (mode.seconds * 0.6) / max(1, mode.trickle)))

        result["login"], since = await asyncio.gather(logins, loaded_trickle())
        result["propagationUnderLogins"] = await propagation(stack, since, len(loaded_people))

        say("scenario 3, refresh-token rotation")
        result["refresh"] = await load.run("refresh", {"tokens": tokens}, vus=mode.vus["refresh"],
                                           seconds=mode.seconds)
        await driver.aclose()
    except BaseException:
        print(f"bench: failed; service logs are in {work / 'logs'}", file=sys.stderr)
        raise
    else:
        if profile is None:
            shutil.rmtree(work, ignore_errors=True)
        else:
            shutil.copytree(work / "logs", profile / "logs", dirs_exist_ok=True)
            shutil.rmtree(work, ignore_errors=True)
    finally:
        stack.stop()
        await drop_databases(infra, databases)
    result["finishedAt"] = datetime.now(UTC).isoformat(timespec="seconds")
    return result


# ---------------------------------------------------------------------------------------------- report

TARGETS = {
    "login": "at least 80% of the argon2 bound",
    "verify": "1,500/s or more, p99 under 50 ms",
    "refresh": "800/s or more",
    "callback": "none set",
    "propagationIdle": "p50 under 15 ms, p99 under 100 ms",
    "propagationUnderLogins": "none set",
    "propagationDuringCallbacks": "none set",
    "memory": "each Python service under 150 MB RSS under load",
}


def judge(result: dict) -> dict:
    """Each figure beside its bound (ratio 1.0 = at the bound), and whether the issue's target is met."""
    bounds = result["bounds"]
    trivial = bounds["trivialEndpoint"]["perSecond"]
    kafka = bounds["kafkaRoundTrip"]["p50Ms"]
    login, verify, refresh = result["login"], result["verify"], result["refresh"]
    idle = result["propagationIdle"]
    peak = {name: max(s.get("peakMemoryMiB", {}).get(name, 0) for s in
                      (result["login"], result["verify"], result["refresh"], result["callback"]))
            for name in SERVICES}
    mib_150mb = 150e6 / 2**20
    return {
        "login": {"bound": f"{bounds['argon2']['loginsPerSecondBound']}/s (cores / argon2 median)",
                  "ratio": round(login["perSecond"] / bounds["argon2"]["loginsPerSecondBound"], 2),
                  "met": login["perSecond"] >= 0.8 * bounds["argon2"]["loginsPerSecondBound"]},
        "verify": {"bound": f"{trivial}/s (trivial endpoint)", "ratio": round(verify["perSecond"] / trivial, 2),
                   "met": verify["perSecond"] >= 1500 and (verify["p99Ms"] or 1e9) < 50},
        "refresh": {"bound": f"{trivial}/s (trivial endpoint)", "ratio": round(refresh["perSecond"] / trivial, 2),
                    "met": refresh["perSecond"] >= 800},
        "callback": {"bound": f"{trivial}/s (trivial endpoint)",
                     "ratio": round(result["callback"]["perSecond"] / trivial, 2), "met": None},
        "propagationIdle": {"bound": f"{kafka} ms p50 (one Kafka round trip)",
                            "ratio": round(kafka / idle["p50Ms"], 2) if idle["p50Ms"] else None,
                            "met": idle["p50Ms"] is not None and idle["p50Ms"] < 15 and idle["p99Ms"] < 100},
        **{key: {"bound": f"{kafka} ms p50 (one Kafka round trip)",
                 "ratio": round(kafka / p50, 2) if (p50 := result[key]["p50Ms"]) else None, "met": None}
           for key in ("propagationUnderLogins", "propagationDuringCallbacks")},
        "memory": {"bound": "150 MB", "peakMiB": peak, "met": all(v < mib_150mb for v in peak.values())},
    }


def markdown(result: dict) -> str:
    verdict = result["verdict"]
    bounds = result["bounds"]
    yes = {True: "yes", False: "**no**", None: "–"}
    lines = [
        f"# Benchmark ({result['mode']}, {result['startedAt']})", "",
        f"{result['machine']['cores']} cores, everything on one machine. Load from {result['loadGenerator']['tool']}, "
        "a separate process that drives every measured request, the two steps of a login included (its CPU is "
        "the `k6` row below). Setup (registrations, the sessions of scenario 3) and the timed trickle of "
        "scenario 5 are sent by the Python driver, outside every measured figure (the `bench-driver` row).", "",
        "## Bounds measured in this run", "",
        "| bound | figure |", "| --- | --- |",
        f"| argon2id hash, production parameters | median {bounds['argon2']['medianMs']} ms "
        f"→ {bounds['argon2']['loginsPerSecondBound']} logins/s on {bounds['argon2']['cores']} cores |",
        f"| trivial endpoint (gateway `/healthz`) | {bounds['trivialEndpoint']['perSecond']}/s, "
        f"p50 {bounds['trivialEndpoint']['p50Ms']} ms, p99 {bounds['trivialEndpoint']['p99Ms']} ms |",
        f"| PostgreSQL round trip | p50 {bounds['postgresRoundTrip']['p50Ms']} ms, "
        f"p99 {bounds['postgresRoundTrip']['p99Ms']} ms |",
        f"| Kafka produce → consume | p50 {bounds['kafkaRoundTrip']['p50Ms']} ms, "
        f"p99 {bounds['kafkaRoundTrip']['p99Ms']} ms |", "",
        "## Scenarios", "",
        "| scenario | per second | p50 ms | p99 ms | errors | bound | ratio | target | met |",
        "| --- | ---: | ---: | ---: | ---: | --- | ---: | --- | --- |",
    ]
    for key, title in (("login", "1. full login (password → code → session)"),
                       ("verify", "2. second-factor check (`/api/v1/verify`)"),
                       ("refresh", "3. refresh-token rotation"), ("callback", "4. provider callback")):
        s, v = result[key], verdict[key]
        lines.append(f"| {title} | {s['perSecond']} | {s['p50Ms']} | {s['p99Ms']} | {s['errors']} | {v['bound']} "
                     f"| {v['ratio']} | {TARGETS[key]} | {yes[v['met']]} |")
    for key, title in (("propagationIdle", "5. event propagation, idle"),
                       ("propagationUnderLogins", "5. event propagation, under scenario 1"),
                       ("propagationDuringCallbacks", "5. event propagation, under scenario 4")):
        s, v = result[key], verdict[key]
        lines.append(f"| {title} | – | {s['p50Ms']} | {s['p99Ms']} | – "
                     f"| {v['bound']} | {v['ratio']} | {TARGETS[key]} | {yes[v['met']]} |")
    memory = verdict["memory"]
    lines += [
        "", "Ratios: throughput ÷ bound; for propagation, the bound's latency ÷ the measured p50 "
        "(1.0 = at the bound). "
        f"Scenario 2 answers: {result['verify']['rejected']} of {result['verify']['operations']} checks were "
        "correctly refused (a code already used in its time step), the rest accepted.", "",
        "## 6. Memory (MiB: RSS; for PostgreSQL all its processes, shared memory once) and CPU (cores)", "",
        "| process | idle | peak under load | " + " | ".join(f"cores: {k}" for k in ("login", "verify", "refresh",
                                                                                     "callback")) + " |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name in [*SERVICES, "postgres", "kafka", "bench-driver", "k6"]:
        peak = max(result[k]["peakMemoryMiB"].get(name, 0) for k in ("login", "verify", "refresh", "callback"))
        cores = " | ".join(str(result[k]["cores"].get(name, "–")) for k in ("login", "verify", "refresh", "callback"))
        lines.append(f"| {name} | {result['idleMemoryMiB'].get(name, '–')} | {round(peak, 1)} | {cores} |")
    lines += ["", f"Python services under 150 MB under load: {yes[memory['met']]}.", "",
              "Settings changed for the bench: " + "; ".join(f"`{k}={v['value']}` ({v['why']})"
                                                            for k, v in result["settingsChangedForBench"].items()),
              ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a few seconds per scenario; no targets")
    parser.add_argument("--seconds", type=float, help="seconds per load scenario (default: 20, smoke 3)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="also record every service with py-spy during each scenario (collapsed stacks in DIR)")
    args = parser.parse_args()
    mode = SMOKE if args.smoke else FULL
    if args.seconds:
        mode.seconds = args.seconds
    result = asyncio.run(bench(mode, args.profile))
    result["verdict"] = judge(result)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"{mode.name}-{result['startedAt'].replace(':', '').replace('+0000', 'Z')}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    stem.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))
    print(f"bench: wrote {stem}.json and {stem}.md", file=sys.stderr)
    broken = [k for k in ("login", "verify", "refresh", "callback") if result[k]["operations"] == 0]
    if broken:
        sys.exit(f"bench: no operation succeeded in {', '.join(broken)}")


if __name__ == "__main__":
    main()
