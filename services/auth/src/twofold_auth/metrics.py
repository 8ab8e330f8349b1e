"""auth's own metrics, beside the ones every service has (``twofold_common.metrics``): logins and code checks by
outcome, new accounts, the time argon2 takes, and back-channel logouts sent to apps. Labels are outcomes
and action names, never a user."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import Counter, Histogram

from twofold_common.metrics import Metrics

PASSWORD_OUTCOMES = ("ok", "wrong", "limited")
# locked: a TOTP code refused because the account is locked (only a recovery code opens it)
SECOND_FACTOR_OUTCOMES = ("ok", "wrong", "locked", "limited")
# failed: the app did not take it (sent again later); abandoned: still failing an hour after the session ended
BACKCHANNEL_LOGOUT_OUTCOMES = ("delivered", "failed", "abandoned")
# argon2id with the default settings takes tens of milliseconds per hash on one core
HASH_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5)


@dataclass(frozen=True)
class AuthMetrics:
    password_checks: Counter  # outcome
    second_factor_checks: Counter  # action (login.second_factor, step_up, ...), outcome
    registrations: Counter
    password_hashing: Histogram  # operation: hash | verify
    backchannel_logouts: Counter  # outcome: an attempt to send an app its logout token

    @classmethod
    def registered_in(cls, metrics: Metrics) -> AuthMetrics:
        made = cls(
            password_checks=metrics.counter("twofold_auth_password_checks_total",
                                            "Password steps: ok, wrong (or unknown email), limited (refused untried)",
                                            ["outcome"]),
            second_factor_checks=metrics.counter("twofold_auth_second_factor_checks_total",
                                                 "Second-factor checks (TOTP or recovery code) by action and outcome",
                                                 ["action", "outcome"]),
            registrations=metrics.counter("twofold_auth_registrations_total", "Accounts registered"),
            password_hashing=metrics.histogram("twofold_auth_password_hash_seconds",
                                               "Time of one argon2id hash or verification in its thread (not the wait)",
                                               ["operation"], buckets=HASH_BUCKETS),
            backchannel_logouts=metrics.counter("twofold_auth_backchannel_logouts_total",
                                                "Attempts to send an app a logout token (OpenID Connect "
                                                "back-channel logout), by outcome", ["outcome"]),
        )
        # every outcome from zero, so a rate over it exists before the first one happens
        for outcome in PASSWORD_OUTCOMES:
            made.password_checks.labels(outcome)
        for outcome in SECOND_FACTOR_OUTCOMES:
            made.second_factor_checks.labels("login.second_factor", outcome)
        for outcome in BACKCHANNEL_LOGOUT_OUTCOMES:
            made.backchannel_logouts.labels(outcome)
        return made
