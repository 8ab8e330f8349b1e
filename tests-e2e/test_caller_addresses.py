"""The caller's address, as the gateway computed it, is what auth records and limits by; nobody else can set it.

The gateway here sits behind a load balancer at 127.0.0.1 (a trusted proxy), so
the test can speak for several sources through ``X-Forwarded-For``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from twofold_common.db import to_libpq_url
from twofold_common.testing.inprocess import InProcessStack

PASSWORD = "correct horse battery staple"


@pytest.fixture
async def stack(app_stack: InProcessStack) -> AsyncIterator[InProcessStack]:
    yield await app_stack.start("auth", "gateway", env={"gateway": {
        "GATEWAY_TRUSTED_PROXIES": '["127.0.0.1/32"]',
        "GATEWAY_OPEN_RATE_PER_SECOND": "1000", "GATEWAY_OPEN_BURST": "1000",
    }})


async def login(url: str, email: str, password: str, source: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        return await http.post("/api/auth/login", json={"email": email, "password": password},
                               headers={"X-Forwarded-For": source})


async def register(stack: InProcessStack) -> str:
    email = f"person-{uuid.uuid4().hex[:10]}@example.com"
    async with httpx.AsyncClient(base_url=stack["gateway"].url, timeout=30) as http:
        answer = await http.post("/api/auth/register", json={"email": email, "password": PASSWORD})
    assert answer.status_code == 201, answer.text
    return email


async def login_audit_ips(stack: InProcessStack, email: str) -> list[str]:
    conn = await asyncpg.connect(to_libpq_url(stack["auth"].env["AUTH_DATABASE_URL"]))
    try:
        rows = await conn.fetch("SELECT a.ip FROM audit_log a JOIN users u ON u.id = a.user_id "
                                "WHERE u.email = $1 AND a.action = 'login.password' ORDER BY a.id", email)
    finally:
        await conn.close()
    return [r["ip"] for r in rows]


async def test_auth_records_the_gateways_address_for_the_caller_and_the_peer_for_a_direct_call(stack) -> None:
    email = await register(stack)
    through = await login(stack["gateway"].url, email, PASSWORD, "203.0.113.9")
    assert through.status_code == 200, through.text
    direct = await login(stack["auth"].url, email, PASSWORD, "198.51.100.66")
    assert direct.status_code == 200, direct.text
    assert await login_audit_ips(stack, email) == ["203.0.113.9", "127.0.0.1"]


async def test_password_guesses_through_the_gateway_are_limited_per_source(stack) -> None:
    email = await register(stack)
    gateway = stack["gateway"].url
    statuses = [(await login(gateway, email, "a wrong password", "198.51.100.7")).status_code for _ in range(7)]
    assert statuses == [401] * 5 + [429] * 2
    assert (await login(gateway, email, PASSWORD, "198.51.100.7")).status_code == 429
    assert (await login(gateway, email, PASSWORD, "203.0.113.9")).status_code == 200
