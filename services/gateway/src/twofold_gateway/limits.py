"""A coarse per-ip rate limit for the routes anyone may call, kept in each replica's memory.

It blunts floods and scripted guessing before they cost a service an argon2
hash or a database round trip; the precise limits (5 codes per 15 minutes per
account, lockouts) are auth's, in its database.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

from prometheus_client import Counter

from twofold_common.errors import TooManyRequests


class TokenBuckets:
    """One bucket per key: ``rate`` tokens a second, holding at most ``burst``."""

    def __init__(self, rate: float, burst: int, *, max_keys: int = 100_000,
                 clock: Callable[[], float] = time.monotonic, refusals: Counter | None = None) -> None:
        self.rate = rate
        self.refusals = refusals
        self.burst = burst
        self.max_keys = max_keys
        self.clock = clock
        # key -> (tokens, when counted), least recently seen first
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str) -> float:
        """Spend a token: 0.0 when there was one, else the seconds until there will be."""
        now = self.clock()
        tokens, counted_at = self._buckets.pop(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - counted_at) * self.rate)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / self.rate
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self.max_keys:
            # The longest idle bucket is (nearly) full anyway: forgetting it changes little.
            self._buckets.popitem(last=False)
        return wait

    def check(self, key: str) -> None:
        """Raise 429 with ``Retry-After`` when ``key`` has no token left."""
        wait = self.take(key)
        if wait > 0:
            if self.refusals is not None:
                self.refusals.inc()
            raise TooManyRequests("Too many requests from this address.", retry_after=math.ceil(wait),
                                  code="rate-limited")
