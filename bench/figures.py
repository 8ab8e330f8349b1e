"""How the bench turns samples into the figures it reports."""

from __future__ import annotations

import math


def quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def rounded(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)
