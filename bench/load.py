"""k6, the load generator: found or built once, run on one scenario of ``k6/scenarios.js``, its summary read.

k6 is a separate, compiled program: the load it makes costs the measured services no Python. One scenario per
k6 process; its CPU and peak memory are reported with the scenario's as ``k6``.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from figures import rounded
from processes import Usage, py_spy, rss_mib
from settings import K6_VERSION, PERIOD, ROOT

SCRIPT = ROOT / "bench" / "k6" / "scenarios.js"


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
    work: Path
    usage: Usage
    services: dict[str, int]        # name -> pid, for --profile
    profile: Path | None = None     # py-spy's collapsed stacks of every service, one file per scenario

    async def run(self, scenario: str, base_url: str, data: dict, *, vus: int, seconds: float) -> dict:
        """The scenario's figures; a RuntimeError when k6 itself failed (its output's end in the message)."""
        data_file, summary = self.work / f"{scenario}-data.json", self.work / f"{scenario}-summary.json"
        data_file.write_text(json.dumps(data))
        env = {**os.environ, "SCENARIO": scenario, "BASE_URL": base_url, "DATA": str(data_file),
               "SUMMARY": str(summary), "VUS": str(vus), "SECONDS": str(seconds), "PERIOD": str(PERIOD),
               "K6_NO_USAGE_REPORT": "true"}
        load_before = round(os.getloadavg()[0], 2)  # the machine may be shared: how busy it was as this began
        profilers = self._profilers(scenario)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)  # k6 is the only child that ends in between
        try:
            async with self.usage.during() as usage:
                process = await asyncio.create_subprocess_exec(
                    self.binary, "run", "--quiet", "--no-color", str(SCRIPT), env=env,
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
                peak = asyncio.create_task(_peak_memory(process))
                output, _ = await process.communicate()
        finally:
            for profiler in profilers:
                profiler.send_signal(signal.SIGINT)
                profiler.wait(30)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        usage["cores"]["k6"] = round((after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
                                     / usage["wallSeconds"], 2)
        usage["peakMemoryMiB"]["k6"] = await peak
        if process.returncode not in (0, 99) or not summary.exists():  # 99: thresholds crossed (none are set)
            lines = [line for line in output.decode().splitlines() if line.strip()] or ["no output"]
            raise RuntimeError(f"k6 {scenario} exited {process.returncode}: {lines[-1][:300]}\n"
                               + "\n".join(lines)[-3000:])
        warnings = [line for line in output.decode().splitlines() if "level=warning" in line][:3]
        return {**scenario_result(scenario, json.loads(summary.read_text()), usage, warnings),
                "loadAverageBefore": load_before}

    def _profilers(self, scenario: str) -> list[subprocess.Popen]:
        if self.profile is None:
            return []
        return [py_spy(pid, self.profile / f"{scenario}-{name}.txt")
                for name, pid in self.services.items()]


async def _peak_memory(process: asyncio.subprocess.Process) -> float:
    peak = 0.0
    while process.returncode is None:
        peak = max(peak, rss_mib(process.pid))
        await asyncio.sleep(1.0)
    return round(peak, 1)


# scenario 2's answers (k6/scenarios.js)
CHECKS = ("accepted", "wrong", "replayed", "wrongAccepted", "exhausted")


def scenario_result(scenario: str, summary: dict, usage: dict, warnings: list[str]) -> dict:
    metrics = summary["metrics"]
    seconds = summary["state"]["testRunDurationMs"] / 1000

    def count(name: str) -> int:
        return int(metrics.get(name, {}).get("values", {}).get("count", 0))

    operation = metrics.get("operation", {}).get("values", {})
    done = count("succeeded")
    checks = {name: count(name) for name in CHECKS} if scenario == "verify" else {}
    return {
        "operations": done, "errors": count("failed"), **({"checks": checks} if checks else {}),
        "seconds": round(seconds, 2), "perSecond": round(done / seconds, 1),
        "p50Ms": rounded(operation.get("p(50)")), "p99Ms": rounded(operation.get("p(99)")),
        "httpRequests": count("http_reqs"), **usage, "k6Warnings": warnings,
    }
