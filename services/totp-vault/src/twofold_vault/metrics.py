"""The vault's own metrics, beside the ones every service has (``twofold_common.metrics``): apps' code checks by
outcome and lockouts. Labels are outcomes, never a subject."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import Counter

from twofold_common.metrics import Metrics

APP_CODE_OUTCOMES = ("valid", "invalid", "limited")


@dataclass(frozen=True)
class VaultMetrics:
    app_code_checks: Counter  # outcome: a third-party app's POST /api/v1/verify
    lockouts: Counter

    @classmethod
    def registered_in(cls, metrics: Metrics) -> VaultMetrics:
        made = cls(
            app_code_checks=metrics.counter("twofold_vault_app_code_checks_total",
                                            "Codes third-party apps asked about (POST /api/v1/verify)", ["outcome"]),
            lockouts=metrics.counter("twofold_vault_lockouts_total",
                                     "Subjects (accounts, apps' accounts) locked after too many wrong codes"),
        )
        # every outcome from zero, so a rate over it exists before the first one happens
        for outcome in APP_CODE_OUTCOMES:
            made.app_code_checks.labels(outcome)
        return made
