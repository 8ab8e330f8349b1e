"""CPU and memory of the processes of the system under test, read from /proc while a scenario runs."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from twofold_common.testing.processes import ServiceProcess


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


def cpu_seconds(pid: int, *, ended_children: bool = False) -> float:
    """User and system CPU of the process so far (and, if asked, of its children that ended and were waited for);
    0 when it is gone."""
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


def rss_mib(pid: int) -> float:
    status = _status_kib(pid)
    return sum(status.get(k, 0) for k in ("RssAnon", "RssFile", "RssShmem")) / 1024


def pid_of(service: ServiceProcess) -> int:
    """The pid of a started service process."""
    assert service.proc is not None, "not started"
    return service.proc.pid


def py_spy(pid: int, output: Path) -> subprocess.Popen:
    """py-spy recording every thread of ``pid`` into ``output`` (collapsed stacks, for bench/profile_summary.py)
    until it is sent SIGINT, when it writes them."""
    output.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--format", "raw", "--rate", "250",
                             "--threads", "--nonblocking", "--pid", str(pid), "--output", str(output)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@dataclass
class Watched:
    name: str
    pid: int
    tree: bool = False   # PostgreSQL: the postmaster and its backends; what they share is counted once

    def pids(self) -> list[int]:
        return _tree(self.pid) if self.tree else [self.pid]

    def cpu(self) -> float:
        # a backend that ended during the scenario is counted in the postmaster's children time
        return sum(cpu_seconds(p, ended_children=self.tree and p == self.pid) for p in self.pids())

    def memory(self) -> float:
        if not self.tree:
            return rss_mib(self.pid)
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
