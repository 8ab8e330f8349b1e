"""The codes k6 computes as it sends them (``k6/totp.js``) are the ones pyotp computes, as the vault does:
RFC 6238's test times, random seeds of several lengths, both periods the bench may use, and a counter past 2^32."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyotp

sys.path.insert(0, str(Path(__file__).parent))
from load import k6_binary  # noqa: E402  (bench/ is a directory of scripts, not a package)

TOTP_JS = Path(__file__).parent / "k6" / "totp.js"
SCRIPT = """
import { totp } from '%s';
const CASES = JSON.parse(open('%s'));
export const options = { vus: 1, iterations: 1 };
export default function () {}
export function handleSummary() {
  return { '%s': JSON.stringify(CASES.map((c) => totp(c.seed, c.period, c.at * 1000))) };
}
"""


def test_k6_codes_are_pyotps(tmp_path: Path) -> None:
    rfc6238 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # "12345678901234567890", RFC 6238's SHA1 key
    seeds = [rfc6238, *(pyotp.random_base32(length) for length in (32, 32, 34, 40, 64))]
    times = [59, 1111111109, 1111111111, 1234567890, 2000000000, 20000000000, 200000000000, 1764641000]
    cases = [(seed, period, at) for seed in seeds for period in (10, 30) for at in times]
    (tmp_path / "cases.json").write_text(json.dumps([{"seed": s, "period": p, "at": at} for s, p, at in cases]))
    (tmp_path / "check.js").write_text(SCRIPT % (TOTP_JS, tmp_path / "cases.json", tmp_path / "codes.json"))

    done = subprocess.run([k6_binary(), "run", "--quiet", "--no-color", str(tmp_path / "check.js")],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "K6_NO_USAGE_REPORT": "true"})

    assert done.returncode == 0, done.stdout + done.stderr
    computed = json.loads((tmp_path / "codes.json").read_text())
    expected = [pyotp.TOTP(seed, interval=period).at(at) for seed, period, at in cases]
    assert computed == expected
    assert pyotp.TOTP(rfc6238).at(59) == "287082"  # RFC 6238's first vector, 6 digits: the test's own anchor
