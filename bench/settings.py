"""What the bench changes from a production deployment, and its own constants: one place, reported with the results.

A service setting the bench changes is named here once (``SERVICE_SETTINGS``) with the reason; the results list
every one of them under "Settings changed for the bench".
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
K6_VERSION = "v1.8.1"
PASSWORD = "a bench password that is long enough"
SERVICES = ("gateway", "auth", "registration", "vault")

# The TOTP step of every seed the bench enrolls. Scenario 2 checks a fresh code each time (a code is accepted
# once per step and seed): the seeds it needs are the check rate times this period, so a shorter step needs
# fewer seeds to enroll before the run. Apps cannot choose a seed's period through the API: the vault's own
# setting changes, for every seed of the run (the cost of checking a code does not depend on the period).
PERIOD = 10

# Changed from a production deployment, per service (environment variables), and why.
SERVICE_SETTINGS: dict[str, dict[str, str]] = {
    "gateway": {"GATEWAY_TRUSTED_PROXIES": '["127.0.0.1/32"]'},
    "vault": {"VAULT_TOTP_PERIOD": str(PERIOD)},
}
WHY = {
    "GATEWAY_TRUSTED_PROXIES": "k6 plays many users from many addresses (X-Forwarded-For in 198.18.0.0/15); "
                               "the per-ip limits stay as in production",
    "VAULT_TOTP_PERIOD": f"a {PERIOD} s step instead of 30 s: scenario 2 checks only fresh codes, one per seed "
                         "and step, so it needs a third of the seeds; checking a code costs the same",
}


def changed_settings() -> dict[str, dict[str, str]]:
    """Every setting changed for the bench: its value and why (the results' "settingsChangedForBench")."""
    return {name: {"service": service, "value": value, "why": WHY[name]}
            for service, values in SERVICE_SETTINGS.items() for name, value in values.items()}
