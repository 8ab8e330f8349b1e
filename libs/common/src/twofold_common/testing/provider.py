"""A simulator of the external authenticator provider ("Simple TOTP", seed 001): the one test double.

It plays only the provider's side of the deep-link protocol: it reads our
deep link, lets the person accept or decline, makes a seed and its current
code, and builds the callback request the provider's page would send the
browser to.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode, urlsplit

import pyotp


@dataclass
class Enrollment:
    """What the person's phone holds after accepting."""

    seed: str
    seed_id: str
    account: str
    period: int = 30
    last_step: int = -1

    def code_at(self, step: int) -> str:
        return pyotp.TOTP(self.seed, interval=self.period).at(step * self.period)

    def current_step(self) -> int:
        return int(time.time()) // self.period


@dataclass
class SimpleTotp:
    # the provider's seeds use this period; the vault must assume the same (VAULT_TOTP_PERIOD)
    period: int = 30
    enrollments: dict[str, Enrollment] = field(default_factory=dict)

    @staticmethod
    def read_deep_link(deep_link: str) -> dict[str, str]:
        query = parse_qs(urlsplit(deep_link).query, strict_parsing=True)
        return {k: v[0] for k, v in query.items()}

    def accept(self, deep_link: str, *, timestamp_ms: int | None = None,
               code: str | None = None) -> tuple[str, Enrollment]:
        """The person accepts: a new seed; returns the callback URL (with seed and code) and the enrollment."""
        link = self.read_deep_link(deep_link)
        enrollment = Enrollment(seed=pyotp.random_base32(32), seed_id=f"seed_{uuid.uuid4().hex[:12]}",
                                account=link["account"], period=self.period)
        step = enrollment.current_step()
        enrollment.last_step = step
        self.enrollments[enrollment.seed_id] = enrollment
        params = {"success": "true", "regToken": link["regToken"], "seed": enrollment.seed,
                  "code": code or enrollment.code_at(step), "seedId": enrollment.seed_id,
                  "timestamp": str(timestamp_ms if timestamp_ms is not None else int(time.time() * 1000))}
        return f"{link['callback']}?{urlencode(params)}", enrollment

    def decline(self, deep_link: str, error: str = "user_rejected") -> str:
        link = self.read_deep_link(deep_link)
        params = {"success": "false", "regToken": link["regToken"], "error": error,
                  "timestamp": str(int(time.time() * 1000))}
        return f"{link['callback']}?{urlencode(params)}"
