"""Schemathesis against the gateway's /openapi.json: generated requests find no 5xx and no answer the document
does not describe (status, content type, headers, body schema).

At least ``MIN_REQUESTS`` requests, valid ones and invalid ones, over every documented operation.
schemathesis is a declared dev dependency: without it this module fails to import, it never skips.  The same
run from the command line against a running stack is in services/gateway/README.md.
"""

from __future__ import annotations

import asyncio
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

MIN_REQUESTS = 1000
# CI sends the same generated requests every run, so a red build means a change broke something;
# TWOFOLD_FUZZ_RANDOM=1 explores new ones (what found the NUL-byte 500 in auth).
DERANDOMIZE = os.environ.get("TWOFOLD_FUZZ_RANDOM") != "1"
EXAMPLES_PER_ROUND = 25  # per operation and generation mode
MAX_ROUNDS = 10
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]


def has_inputs(operation) -> bool:
    return any(True for _ in operation.iter_parameters()) or any(True for _ in operation.body)


def fuzz(schema_url: str) -> tuple[int, list[str]]:
    """Rounds over every operation until MIN_REQUESTS were sent: how many, and each operation's failure."""
    schema = schemathesis.openapi.from_url(schema_url)
    operations = [result.ok() for result in schema.get_all_operations()]
    sent = 0
    failures: dict[str, str] = {}

    def run(operation, mode: GenerationMode) -> None:
        @settings(max_examples=EXAMPLES_PER_ROUND, deadline=None, database=None, derandomize=DERANDOMIZE,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode))
        def call(case) -> None:
            nonlocal sent
            sent += 1
            case.call_and_validate(checks=CHECKS, timeout=30)

        try:
            call()
        except (Exception, FailureGroup) as failure:  # every operation is tried; all failures are reported
            failures.setdefault(f"{operation.label} ({mode.value})", str(failure))

    for _ in range(MAX_ROUNDS):
        for operation in operations:
            run(operation, GenerationMode.POSITIVE)
            if has_inputs(operation):  # without inputs there is nothing to make invalid
                run(operation, GenerationMode.NEGATIVE)
        if sent >= MIN_REQUESTS:
            break
    return sent, [f"{label}:\n{failure}" for label, failure in failures.items()]


# Generous limits: the run comes from one address, and a 429 would test the limiter instead of the services.
@pytest.mark.gateway_env(GATEWAY_OPEN_RATE_PER_SECOND="10000", GATEWAY_OPEN_BURST="10000")
async def test_generated_requests_get_only_documented_answers_and_no_server_error(world) -> None:
    sent, failures = await asyncio.to_thread(fuzz, f"{world.stack['gateway'].url}/openapi.json")
    assert not failures, "\n\n".join(failures)
    assert sent >= MIN_REQUESTS
