"""Real service processes for tests: start, wait until ready, SIGTERM, SIGKILL, restart."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A port nothing listens on, for a service a test starts, never handed out twice by this process.

    Taken below the kernel's ephemeral range: a port the kernel picks (a bind to port 0) is one it may also give
    the next outgoing connection (to PostgreSQL, Kafka, a peer) before the service binds it, which then fails to
    start (seen in CI: EADDRINUSE on 127.0.0.1:58841, and every test of that stack errored)."""
    ephemeral = _ephemeral_start()
    for _ in range(1000):
        port = random.randrange(max(1024, ephemeral - 20_000), ephemeral)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError(f"no free port below the ephemeral range (from {ephemeral})")


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):  # not Linux: the range IANA sets aside
        return 49152


def service_command(module: str, env: dict[str, str], *args: str,
                    timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """One of a service's commands as an operator runs it (``python -m <module> ARGS``), with its settings."""
    return subprocess.run([sys.executable, "-m", module, *args], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=timeout)


def stop_all(processes: list[ServiceProcess]) -> None:
    """SIGTERM to every process at once, then wait for each: they drain and stop side by side."""
    for process in processes:
        if process.proc is not None and process.proc.poll() is None:
            process.proc.send_signal(signal.SIGTERM)
    for process in processes:
        process.wait_stopped()


class ServiceProcess:
    def __init__(self, name: str, module: str, env: dict[str, str], port: int, log_dir: Path,
                 args: tuple[str, ...] = ()) -> None:
        self.name = name
        self.module = module
        self.env = env
        self.port = port
        self.args = args
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, wait: bool = True, timeout: float = 60) -> ServiceProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            # a module name (python -m) or a script path
            [sys.executable, *(() if self.module.endswith(".py") else ("-m",)), self.module, *self.args],
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        if wait:
            self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout: float = 60, path: str = "/healthz") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.logs()[-4000:]}")
            try:
                if httpx.get(self.url + path, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{self.name} not healthy after {timeout}s:\n{self.logs()[-4000:]}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        return self.wait_stopped(timeout)

    def wait_stopped(self, timeout: float = 30) -> int | None:
        """The exit code once the process has stopped; SIGKILL after ``timeout``."""
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def restart(self) -> None:
        self.stop()
        self.start()

    def command(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return service_command(self.module, self.env, *args, timeout=timeout)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
