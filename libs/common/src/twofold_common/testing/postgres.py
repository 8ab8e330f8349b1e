"""A private PostgreSQL cluster for a test that must stop the database (the shared one is never stopped).

``initdb`` in a temporary directory, ``pg_ctl`` on a free port of 127.0.0.1 with
trust authentication (loopback only, thrown away after the test).  The binaries
are found the way ``deploy/native/infra.sh`` finds them; as root, the cluster
belongs to the ``postgres`` system user (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg

from .processes import free_port


def _bin_dir() -> Path:
    """The newest major version's server binaries (Debian's layout, else the PATH)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql)")
    return Path(initdb).parent


class PostgresCluster:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.data = directory / "data"
        self.port = free_port()
        self.bin = _bin_dir()
        self.as_root = os.geteuid() == 0

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin / tool), *args]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd="/")
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")

    def init(self) -> PostgresCluster:
        if self.as_root:
            shutil.chown(self.directory, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--encoding=UTF8",
                  "--locale=C", "--no-sync")
        return self

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.directory / "postgres.log"), "-o", options,
                  "-w", "start")

    def stop(self) -> None:
        """A fast shutdown: open sessions are ended, as an operator's restart would."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    async def create_database(self, prefix: str = "t") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        admin = await asyncpg.connect(self.admin_url)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"


@contextmanager
def private_cluster() -> Iterator[PostgresCluster]:
    """A started cluster, stopped and deleted afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="twofold-pg-"))  # short: the socket path is limited
    cluster = PostgresCluster(directory).init()
    cluster.start()
    try:
        yield cluster
    finally:
        try:
            cluster.stop()
        except RuntimeError:
            pass  # already stopped by the test
        shutil.rmtree(directory, ignore_errors=True)
