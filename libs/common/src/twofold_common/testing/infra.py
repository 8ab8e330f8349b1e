"""Where tests get a real PostgreSQL and a real Kafka.

In order of preference:
1. ``TWOFOLD_TEST_PG_ADMIN_URL`` and ``TWOFOLD_TEST_KAFKA_BOOTSTRAP`` when set (a stack someone runs);
2. testcontainers, when a container engine answers;
3. the native stack of ``deploy/native/infra.sh``, started if it is not running.
Only the native stack can be stopped and started by a test (broker outages, restarts).

Where the native stack is required (``TWOFOLD_TEST_REQUIRE_NATIVE=1``, which ``.ci/run`` sets, or ``CI=true``,
which CI services set), testcontainers are never used, and a durability test that cannot control the stack
fails instead of skipping: a test that silently skips in CI proves nothing.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa

from twofold_common.db import to_libpq_url

REQUIRE_NATIVE = "TWOFOLD_TEST_REQUIRE_NATIVE"


def native_required() -> bool:
    """Whether this run must control its stack (CI): durability tests fail rather than skip."""
    return os.environ.get(REQUIRE_NATIVE) == "1" or os.environ.get("CI", "").lower() in ("true", "1")


def repo_root(start: Path | None = None) -> Path:
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "deploy" / "native" / "infra.sh").exists():
            return candidate
    raise RuntimeError("cannot find deploy/native/infra.sh above the current directory")


@dataclass
class Infra:
    pg_admin_url: str
    kafka_bootstrap: str
    kind: str  # external | containers | native
    script: Path | None = None
    _containers: list[Any] = field(default_factory=list)

    @property
    def controllable(self) -> bool:
        return self.kind == "native"

    def require_control(self, why: str) -> None:
        """For a test that stops or restarts the stack: skip it on a stack it cannot control, or fail it
        where the native stack is required (CI)."""
        if self.controllable:
            return
        message = f"this test {why}: only the native stack allows that, and this one is {self.kind}"
        if native_required():
            pytest.fail(f"{message} ({REQUIRE_NATIVE}=1 or CI=true: a durability test may not skip)", pytrace=False)
        pytest.skip(message)

    def _run(self, *args: str, timeout: float = 180) -> str:
        if self.script is None:
            raise RuntimeError(f"the {self.kind} stack cannot be controlled from tests")
        done = subprocess.run(["bash", str(self.script), *args], capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"infra.sh {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def stop_kafka(self) -> None:
        self._run("stop-kafka")

    def start_kafka(self) -> None:
        self._run("start-kafka")

    def restart(self) -> None:
        self._run("stop")
        self._run("start")

    def close(self) -> None:
        for container in reversed(self._containers):
            container.stop()


def _docker_reachable() -> bool:
    if not shutil.which("docker") and not os.environ.get("DOCKER_HOST"):
        return False
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


def _from_containers() -> Infra:
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer

    pg = PostgresContainer("postgres:16-alpine", username="postgres", password="postgres", dbname="postgres")
    pg.start()
    kafka = KafkaContainer("apache/kafka:4.1.1").with_kraft()
    kafka.start()
    url = pg.get_connection_url().replace("postgresql+psycopg2://", "postgresql://")
    return Infra(url, kafka.get_bootstrap_server(), "containers", _containers=[kafka, pg])


def _from_native(root: Path) -> Infra:
    script = root / "deploy" / "native" / "infra.sh"
    infra = Infra("", "", "native", script=script)
    infra._run("start", timeout=900)  # first run downloads the broker's jars
    env: dict[str, str] = {}
    for line in infra._run("env").splitlines():
        if line.startswith("export "):
            key, _, value = line[len("export "):].partition("=")
            env[key] = shlex.split(value)[0] if value else ""
    infra.pg_admin_url = env["TWOFOLD_PG_ADMIN_URL"]
    infra.kafka_bootstrap = env["TWOFOLD_KAFKA_BOOTSTRAP"]
    return infra


def provide_infra(root: Path) -> Infra:
    pg = os.environ.get("TWOFOLD_TEST_PG_ADMIN_URL")
    kafka = os.environ.get("TWOFOLD_TEST_KAFKA_BOOTSTRAP")
    if pg and kafka:
        return Infra(pg, kafka, "external")
    if os.environ.get("TWOFOLD_TEST_NATIVE") != "1" and not native_required() and _docker_reachable():
        return _from_containers()
    return _from_native(root)


def database_url_for(infra: Infra, name: str) -> str:
    return sa.make_url(infra.pg_admin_url).set(database=name).render_as_string(hide_password=False)


async def new_database(infra: Infra, prefix: str = "t") -> str:
    """A fresh, empty database on the server; its name starts with ``prefix``."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(to_libpq_url(infra.pg_admin_url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return database_url_for(infra, name)


async def fetch(database_url: str, query: str, *args: object) -> list[asyncpg.Record]:
    """The rows of one query on a database of its own connection: an observer's look."""
    conn = await asyncpg.connect(to_libpq_url(database_url))
    try:
        return await conn.fetch(query, *args)
    finally:
        await conn.close()


async def drop_databases(infra: Infra, urls: list[str]) -> None:
    admin = await asyncpg.connect(to_libpq_url(infra.pg_admin_url))
    try:
        for url in urls:
            await admin.execute(f'DROP DATABASE IF EXISTS "{sa.make_url(url).database}" WITH (FORCE)')
    finally:
        await admin.close()
