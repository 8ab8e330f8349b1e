"""Each service runs as its own process: migrates its own database, answers health and readiness, stops on SIGTERM.

It migrates in a child process, so what migrating loads never stays in the serving process's memory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import asyncpg
import httpx
import pytest

from twofold_common.db import to_libpq_url
from twofold_common.testing.infra import Infra
from twofold_common.testing.processes import ServiceProcess, free_port
from twofold_common.testing.waiting import eventually

SERVICES = [("auth", "twofold_auth", True), ("registration", "twofold_registration", True),
            ("vault", "twofold_vault", True), ("gateway", "twofold_gateway", False)]


@pytest.mark.parametrize(("name", "module", "has_database"), SERVICES)
async def test_service_starts_migrates_is_ready_and_stops_on_sigterm(
    name: str, module: str, has_database: bool, infra: Infra, create_database, log_dir: Path
) -> None:
    port = free_port()
    prefix = name.upper()
    env = {f"{prefix}_PORT": str(port), f"{prefix}_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
           f"{prefix}_SHUTDOWN_DRAIN_SECONDS": "3"}
    database_url = None
    if has_database:
        database_url = await create_database(name)
        env[f"{prefix}_DATABASE_URL"] = database_url
    service = ServiceProcess(name, module, env, port, log_dir).start()
    try:
        service.wait_healthy(path="/readyz")
        ready = httpx.get(service.url + "/readyz").json()
        assert ready["status"] == "ready"
        assert ready["checks"]["broker"] == "ok"
        if has_database:
            assert ready["checks"]["database"] == "ok"
            conn = await asyncpg.connect(to_libpq_url(database_url))
            try:
                rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")
                tables = {r["tablename"] for r in rows}
                version = await conn.fetchval("SELECT version_num FROM alembic_version")
            finally:
                await conn.close()
            assert {"outbox_events", "processed_events", "alembic_version"} <= tables
            assert version is not None
        # SIGTERM: first a drain, in which the service still answers but is no longer ready
        assert service.proc is not None
        service.proc.send_signal(signal.SIGTERM)

        async def stopping() -> bool:
            return httpx.get(service.url + "/readyz").json()["status"] == "stopping"

        await eventually(stopping, timeout=3)
        code = service.wait_stopped(timeout=20)  # then it stops by itself
    finally:
        service.stop()
    # uvicorn re-raises SIGTERM after its graceful shutdown, so -15 is a clean exit too
    assert code in (0, -signal.SIGTERM), service.logs()[-3000:]
    assert '"service stopped"' in service.logs()


# A service's entry point whose app only says whether the serving process has alembic loaded.
SERVE_AND_TELL = """
import sys
from twofold_common.cli import run
from twofold_vault.__main__ import MIGRATIONS, SETTINGS

def create_app(settings):
    print("serving; alembic loaded:", "alembic" in sys.modules, flush=True)
    sys.exit(0)

run(SETTINGS, create_app, MIGRATIONS)
"""


def _serve_and_tell(database_url: str, infra: Infra) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VAULT_DATABASE_URL": database_url, "VAULT_KAFKA_BOOTSTRAP": infra.kafka_bootstrap}
    return subprocess.run([sys.executable, "-c", SERVE_AND_TELL], env=env, capture_output=True, text=True,
                          timeout=60)


async def test_serving_migrates_in_a_process_of_its_own_and_never_loads_alembic(infra: Infra, create_database) -> None:
    database_url = await create_database("vault")
    done = _serve_and_tell(database_url, infra)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "serving; alembic loaded: False" in done.stdout
    conn = await asyncpg.connect(to_libpq_url(database_url))
    try:
        assert await conn.fetchval("SELECT version_num FROM alembic_version") is not None
    finally:
        await conn.close()


async def test_a_failed_migration_stops_the_service_before_it_serves(infra: Infra) -> None:
    nowhere = f"postgresql://postgres:twofold-dev@127.0.0.1:{free_port()}/vault"  # nothing listens there
    done = _serve_and_tell(nowhere, infra)
    assert done.returncode != 0
    assert "serving" not in done.stdout
    assert "migrations failed" in done.stderr


def test_free_ports_are_below_the_ephemeral_range_and_never_handed_out_twice() -> None:
    """A port from the ephemeral range can be taken by an outgoing connection before the service binds it."""
    from twofold_common.testing.processes import _ephemeral_start, free_port

    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    assert all(1024 <= port < _ephemeral_start() for port in ports)
