"""What a result file says: where and how it was measured (commit, machine, command, settings changed), each
figure beside its bound, and whether the issue's target is met; as JSON and as Markdown."""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

from settings import ROOT, SERVICES

SCENARIOS = {"login": "1. full login (password → code → session)",
             "verify": "2. fresh-code check (`/api/v1/verify`)",
             "refresh": "3. refresh-token rotation", "callback": "4. provider callback"}
PROPAGATION = {"propagationIdle": "5. event propagation, idle",
               "propagationUnderLogins": "5. event propagation, under scenario 1",
               "propagationDuringCallbacks": "5. event propagation, under scenario 4"}
TARGETS = {
    "login": "at least 0.8 of the argon2 bound",
    "verify": "1,500/s or more, p99 under 50 ms, at least 0.7 of one hop + commit",
    "refresh": "800/s or more",
    "callback": "none set",
    "propagationIdle": "p50 under 15 ms, p99 under 100 ms",
    "propagationUnderLogins": "p99 under 100 ms",
    "propagationDuringCallbacks": "none set",
    "memory": "each Python service under 150 MB RSS at peak",
}
MIB_150MB = 150e6 / 2**20


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()


def _cpu_model() -> str | None:
    try:
        return next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name")), None)
    except OSError:
        return None


def _memory_gib() -> float | None:
    try:
        kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal:"))
        return round(kib / 2**20, 1)
    except (OSError, StopIteration):
        return None


def provenance() -> dict:
    """The commit (and whether the tree had changes), the machine as the run starts, and the exact command."""
    environment = {k: v for k, v in sorted(os.environ.items()) if k.startswith("TWOFOLD_")}
    return {
        "commit": _git("rev-parse", "HEAD"), "treeDirty": bool(_git("status", "--porcelain")),
        "command": " ".join([*(f"{k}={shlex.quote(v)}" for k, v in environment.items()),
                             shlex.join(["python", *sys.argv])]),
        "machine": {"cores": os.cpu_count(), "cpuModel": _cpu_model(), "memoryGiB": _memory_gib(),
                    "loadAverageBefore": [round(x, 2) for x in os.getloadavg()],
                    "python": platform.python_version(), "kernel": platform.release()},
    }


def _ok(result: dict, key: str) -> dict | None:
    """A scenario's figures, or None when it failed or did not run."""
    figures = result.get(key)
    return None if not figures or figures.get("failed") else figures


def _ratio(value: float | None, bound: float | None) -> float | None:
    return round(value / bound, 2) if value is not None and bound else None


def _peak(result: dict) -> dict[str, float]:
    scenarios = [s for key in SCENARIOS if (s := _ok(result, key))]
    return {name: max((s["peakMemoryMiB"].get(name, 0) for s in scenarios), default=0)
            for name in [*SERVICES, "postgres", "kafka", "bench-driver", "k6"]}


def judge(result: dict) -> dict:
    """Each figure beside its bound (ratio 1.0 = at the bound), and whether the issue's target is met (None:
    no target, or the scenario or its bound failed)."""
    bounds = result.get("bounds", {})
    argon2 = (bounds.get("argon2") or {}).get("loginsPerSecondBound")
    one, two = ((_ok(bounds, k) or {}).get("perSecond") for k in ("oneHop", "twoHops"))
    kafka = (bounds.get("kafkaRoundTrip") or {}).get("p50Ms")
    verdict: dict = {}
    if login := _ok(result, "login"):
        verdict["login"] = {"bound": f"{argon2}/s (cores / argon2 median)", "ratio": _ratio(login["perSecond"], argon2),
                            "met": argon2 is not None and login["perSecond"] >= 0.8 * argon2}
    for key in ("verify", "refresh", "callback"):
        if figures := _ok(result, key):
            verdict[key] = {"bound": f"{two}/s (two hops + commit)", "ratio": _ratio(figures["perSecond"], two),
                            "oneHopRatio": _ratio(figures["perSecond"], one), "met": None}
    if "verify" in verdict:
        verify, ratio = result["verify"], verdict["verify"]["oneHopRatio"]
        verdict["verify"]["met"] = (verify["perSecond"] >= 1500 and (verify["p99Ms"] or 1e9) < 50
                                    and ratio is not None and ratio >= 0.7)
    if "refresh" in verdict:
        verdict["refresh"]["met"] = result["refresh"]["perSecond"] >= 800
    for key in PROPAGATION:
        if figures := _ok(result, key):
            p50, p99 = figures["p50Ms"], figures["p99Ms"]
            met = {"propagationIdle": p50 is not None and p50 < 15 and p99 < 100,
                   "propagationUnderLogins": p99 is not None and p99 < 100}.get(key)
            verdict[key] = {"bound": f"{kafka} ms p50 (one Kafka round trip)", "ratio": _ratio(kafka, p50), "met": met}
    peak = {name: mib for name, mib in _peak(result).items() if name in SERVICES}
    verdict["memory"] = {"bound": "150 MB", "peakMiB": peak,
                         "met": all(v < MIB_150MB for v in peak.values()) if any(peak.values()) else None}
    return verdict


def failures(result: dict) -> list[str]:
    """What failed: scenarios and bounds that recorded an error, and scenarios where nothing succeeded (one
    that did not run, left out by ``--only``, is not among them)."""
    parts = {**{k: result[k] for k in [*SCENARIOS, *PROPAGATION] if k in result},
             **{f"bounds.{k}": v for k, v in result.get("bounds", {}).items()}}
    return [key for key, figures in parts.items() if figures.get("failed") or figures.get("operations", 1) == 0]


YES = {True: "yes", False: "**no**", None: "–"}


def _failed(figures: dict | None) -> str:
    return "not run" if figures is None else f"**failed**: {figures.get('error', '?').splitlines()[0][:200]}"


def _scenario_row(result: dict, key: str, title: str) -> str:
    s, v = result.get(key), result["verdict"].get(key)
    if s is None or v is None:
        return f"| {title} | {_failed(s)} | | | | | | | {TARGETS[key]} | {YES[None if s is None else False]} |"
    rate, errors = (s["perSecond"], s["errors"]) if key in SCENARIOS else ("–", "–")
    return (f"| {title} | {rate} | {s['p50Ms']} | {s['p99Ms']} | {errors} | {v['bound']} | {v['ratio']} "
            f"| {v.get('oneHopRatio', '–')} | {TARGETS[key]} | {YES[v['met']]} |")


def _bound_row(title: str, figures: dict | None) -> str:
    if figures is None or figures.get("failed"):
        return f"| {title} | {_failed(figures)} |"
    return f"| {title} | {figures['perSecond']}/s, p50 {figures['p50Ms']} ms, p99 {figures['p99Ms']} ms |"


def markdown(result: dict) -> str:
    verdict, bounds, machine = result["verdict"], result.get("bounds", {}), result["machine"]
    argon2, postgres, kafka = (bounds.get(k) or {} for k in ("argon2", "postgresRoundTrip", "kafkaRoundTrip"))
    lines = [
        f"# Benchmark ({result['mode']}, {result['startedAt']})", "",
        f"Commit `{result['commit']}`{' with uncommitted changes' if result['treeDirty'] else ''}; "
        f"`{result['command']}`.", "",
        f"{machine['cores']} cores ({machine['cpuModel']}), {machine['memoryGiB']} GiB, load average "
        f"{' / '.join(map(str, machine['loadAverageBefore']))} (1, 5, 15 min) before the run; everything on this "
        f"one machine. Load from {result['loadGenerator']['tool']}, a separate process that drives every measured "
        "request, the two steps of a login included (its CPU is the `k6` row below). Setup (registrations, the "
        "sessions of scenario 3) and the timed trickle of scenario 5 are sent by the Python driver, outside every "
        "measured figure (the `bench-driver` row).", "",
        "## Bounds measured in this run", "",
        "| bound | figure |", "| --- | --- |",
        f"| argon2id hash, production parameters | median {argon2.get('medianMs')} ms "
        f"→ {argon2.get('loginsPerSecondBound')} logins/s on {argon2.get('cores')} cores |",
        _bound_row("one hop + commit (`bench/hop.py`: our web stack, one INSERT committed per request)",
                   bounds.get("oneHop")),
        _bound_row("two hops + commit (the same behind one more hop made with `PeerClient`, as through the "
                   "gateway)", bounds.get("twoHops")),
        f"| PostgreSQL round trip | p50 {postgres.get('p50Ms')} ms, p99 {postgres.get('p99Ms')} ms |",
        f"| Kafka produce → consume | p50 {kafka.get('p50Ms')} ms, p99 {kafka.get('p99Ms')} ms |", "",
        "The hops are loaded by k6 like the scenarios (the same virtual users as scenario 2).", "",
        "## Scenarios", "",
        "| scenario | per second | p50 ms | p99 ms | errors | bound | ratio | ratio to one hop | target | met |",
        "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- | --- |",
    ]
    lines += [_scenario_row(result, key, title) for key, title in {**SCENARIOS, **PROPAGATION}.items()]
    lines += ["", "Ratios: throughput ÷ bound; for propagation, the bound's latency ÷ the measured p50 "
              "(1.0 = at the bound).", ""]
    if verify := _ok(result, "verify"):
        lines += [_verify_note(verify), ""]
    lines += ["## 6. Memory (MiB: RSS; for PostgreSQL all its processes, shared memory once) and CPU (cores)", "",
              "| process | idle | peak under load | " + " | ".join(f"cores: {k}" for k in SCENARIOS) + " |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    peak = _peak(result)
    for name in peak:
        cores = " | ".join(str(s["cores"].get(name, "–")) if (s := _ok(result, k)) else "–" for k in SCENARIOS)
        lines.append(f"| {name} | {result.get('idleMemoryMiB', {}).get(name, '–')} | {round(peak[name], 1)} "
                     f"| {cores} |")
    lines += ["", f"Python services under 150 MB at peak: {YES[verdict['memory']['met']]}.", "",
              "## Settings changed for the bench", "",
              *(f"- {v['service']}: `{k}={v['value']}`: {v['why']}"
                for k, v in result["settingsChangedForBench"].items()), ""]
    if setup := result.get("setupSeconds"):
        lines += ["Setup (outside every figure), seconds: " + ", ".join(f"{k} {v}" for k, v in setup.items()) + ".",
                  ""]
    return "\n".join(lines)


def _verify_note(verify: dict) -> str:
    checks, seeds = verify["checks"], verify["seeds"]
    sent = checks["accepted"] + checks["wrong"] + checks["replayed"] + checks["wrongAccepted"]
    note = (f"Scenario 2 sent {sent} checks of {seeds} enrolled seeds, each valid code fresh (not yet used in its "
            f"{verify['periodSeconds']} s step): {checks['accepted']} valid codes accepted, {checks['wrong']} wrong "
            f"codes refused ({round(100 * checks['wrong'] / sent, 1) if sent else 0} %), "
            f"{checks['replayed']} valid codes refused as replays, {checks['wrongAccepted']} wrong codes accepted.")
    if checks["replayed"] or checks["wrongAccepted"]:
        note += " **A replay or an accepted wrong code is a defect of the harness (or of the system): the figures "\
                "above are not of fresh codes alone.**"
    if checks["exhausted"]:
        note += (f" **The seeds ran out {checks['exhausted']} times (a virtual user waited for the next step): the "
                 f"rate is the harness's ({verify['capacityPerSecond']}/s with these seeds), not the system's.**")
    return note
