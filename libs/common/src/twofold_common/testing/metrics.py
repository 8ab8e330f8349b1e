"""What Prometheus would read from a service's ``/metrics``, for tests to compare before and after."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families


def sample_key(name: str, labels: dict[str, str]) -> str:
    """``name{label="value",...}``, labels in order: how a sample reads in an assertion's diff."""
    inner = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    return f"{name}{{{inner}}}" if inner else name


def parse(text: str) -> dict[str, float]:
    return {sample_key(sample.name, sample.labels): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


async def scrape(url: str) -> dict[str, float]:
    """Every sample of one scrape of ``url``."""
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.get(url)
    answer.raise_for_status()
    return parse(answer.text)


def moved(before: dict[str, float], after: dict[str, float], prefix: str = "twofold_") -> dict[str, float]:
    """The counters (``_total``) and histogram counts (``_count``) under ``prefix`` that changed, by how much."""
    return {key: after[key] - before.get(key, 0.0) for key in after
            if key.startswith(prefix) and key.split("{", 1)[0].endswith(("_total", "_count"))
            and after[key] != before.get(key, 0.0)}
