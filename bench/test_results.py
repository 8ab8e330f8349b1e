"""A result file says what failed and what met its target: a failed scenario is listed (the exit status) and
shown with its error, one left out by ``--only`` is neither, and each target is judged against its bound."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import results  # noqa: E402  (bench/ is a directory of scripts, not a package)

USAGE = {"cores": {"auth": 0.5}, "peakMemoryMiB": {"gateway": 100.0, "auth": 120.0, "registration": 100.0,
                                                   "vault": 100.0}}


def scenario(per_second: float, p99: float = 20.0, **extra: object) -> dict:
    return {"operations": int(per_second * 10), "errors": 0, "seconds": 10.0, "perSecond": per_second,
            "p50Ms": 5.0, "p99Ms": p99, **USAGE, **extra}


def run(**scenarios: dict) -> dict:
    result = {"mode": "full", "startedAt": "2026-12-02T03:00:00+00:00", "commit": "abc123", "treeDirty": False,
              "command": "python bench/run.py", "only": ["login", "verify", "refresh"],
              "machine": {"cores": 2, "cpuModel": "a CPU", "memoryGiB": 8.0, "loadAverageBefore": [0.1, 0.2, 0.3]},
              "loadGenerator": {"tool": "k6 v1.8.1"}, "settingsChangedForBench": {}, "idleMemoryMiB": {},
              "bounds": {"argon2": {"medianMs": 20.0, "loginsPerSecondBound": 100.0, "cores": 2},
                         "oneHop": scenario(2000), "twoHops": scenario(1600),
                         "kafkaRoundTrip": {"p50Ms": 2.0, "p99Ms": 5.0}, "postgresRoundTrip": {}},
              **scenarios}
    result["verdict"] = results.judge(result)
    return result


CHECKS = {"accepted": 14400, "wrong": 1600, "replayed": 0, "wrongAccepted": 0, "exhausted": 0}
VERIFY: dict[str, Any] = {"checks": CHECKS, "seeds": 16200, "periodSeconds": 10, "capacityPerSecond": 1800}


def test_a_failed_scenario_is_listed_and_shown_with_its_error_the_others_judged() -> None:
    result = run(login=scenario(85), verify={"failed": True, "error": "RuntimeError: k6 verify exited 107: no\nmore"},
                 refresh=scenario(900), callback=scenario(0))

    assert results.failures(result) == ["verify", "callback"]  # callback: nothing succeeded
    page = results.markdown(result)
    assert "| 2. fresh-code check (`/api/v1/verify`) | **failed**: RuntimeError: k6 verify exited 107: no |" in page
    assert result["verdict"]["login"]["met"] is True  # 85/s of a 100/s bound
    assert result["verdict"]["refresh"] == {"bound": "1600/s (two hops + commit)", "ratio": 0.56,
                                            "oneHopRatio": 0.45, "met": True}


def test_a_scenario_left_out_is_not_a_failure() -> None:
    result = run(verify=scenario(1500, **VERIFY), callback=scenario(80))

    assert results.failures(result) == []
    assert "| 1. full login (password → code → session) | not run |" in results.markdown(result)


def test_fresh_code_checks_meet_their_target_only_at_rate_latency_and_ratio_to_one_hop() -> None:
    assert run(verify=scenario(1500, **VERIFY))["verdict"]["verify"]["met"] is True
    assert run(verify=scenario(1500, p99=60, **VERIFY))["verdict"]["verify"]["met"] is False  # p99 over 50 ms
    assert run(verify=scenario(1300, **VERIFY))["verdict"]["verify"]["met"] is False  # under 1,500/s
    slow_against_its_bound = run(verify=scenario(1500, **VERIFY))
    slow_against_its_bound["bounds"]["oneHop"]["perSecond"] = 2200  # 1500 / 2200 < 0.7
    assert results.judge(slow_against_its_bound)["verify"]["met"] is False


def test_a_replay_and_running_out_of_seeds_are_called_out() -> None:
    checks = {**CHECKS, "replayed": 3, "exhausted": 12}
    page = results.markdown(run(verify=scenario(1500, **{**VERIFY, "checks": checks})))

    assert "3 valid codes refused as replays" in page
    assert "defect of the harness" in page
    assert "The seeds ran out 12 times" in page
