"""Password guessing is limited per account and source, per source, and per account, without locking the owner out.

Logins go through the real gateway, which sits behind a proxy at 127.0.0.1 here: each test speaks for
several source addresses with ``X-Forwarded-For``, and auth limits by the address the gateway passes on.
"""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

WRONG = "not the password at all"


def through_gateway(ip: str) -> dict[str, str]:
    return {"X-Forwarded-For": ip}


async def login_from(auth_stack, ip: str, email: str, password: str) -> httpx.Response:
    return await auth_stack.gateway_http.post("/api/auth/login", json={"email": email, "password": password},
                                      headers=through_gateway(ip))


async def outcomes(auth_stack, email: str) -> dict[str, int]:
    rows = await auth_stack.sql("SELECT outcome, count(*) AS n FROM password_attempts WHERE account = $1 "
                                "GROUP BY outcome", email.lower())
    return {r["outcome"]: r["n"] for r in rows}


async def test_sixty_wrong_passwords_from_one_source_get_five_tries_and_the_owner_elsewhere_is_not_blocked(
        auth_stack) -> None:
    user = await auth_stack.register()
    statuses = []
    for _ in range(60):
        answer = await login_from(auth_stack, "198.51.100.7", user.email, WRONG)
        statuses.append(answer.status_code)
    assert statuses == [401] * 5 + [429] * 55
    assert int(answer.headers["retry-after"]) > 0
    assert answer.headers["content-type"] == "application/problem+json"
    assert await outcomes(auth_stack, user.email) == {"failure": 5}

    # the right password from the limited source waits too; from any other source it works at once
    assert (await login_from(auth_stack, "198.51.100.7", user.email, user.password)).status_code == 429
    elsewhere = await login_from(auth_stack, "203.0.113.9", user.email, user.password)
    assert elsewhere.status_code == 200 and elsewhere.json()["status"] == "2fa_setup_required"
    # the seed-compatible sign-in checks the password under the same limit
    signin = await auth_stack.gateway_http.post("/api/auth/signin-with-2fa", headers=through_gateway("198.51.100.7"),
                                        json={"email": user.email, "password": user.password,
                                              "challengeToken": "ch_a_challenge_of_this_login"})
    assert signin.status_code == 429


async def test_twenty_parallel_wrong_passwords_get_at_most_five_evaluations(auth_stack) -> None:
    user = await auth_stack.register()
    answers = await asyncio.gather(*(login_from(auth_stack, "198.51.100.8", user.email, WRONG) for _ in range(20)))
    assert sorted(a.status_code for a in answers) == [401] * 5 + [429] * 15
    assert await outcomes(auth_stack, user.email) == {"failure": 5}


@pytest.mark.auth_env(AUTH_PASSWORD_SOURCE_LIMIT="8")
async def test_one_source_guessing_across_accounts_is_limited_and_unknown_emails_count(auth_stack) -> None:
    emails = [f"nobody-{uuid.uuid4().hex[:8]}@example.com" for _ in range(9)]
    statuses = [(await login_from(auth_stack, "198.51.100.9", email, WRONG)).status_code for email in emails]
    assert statuses == [401] * 8 + [429]
    # an existing account answers the same: the limit tells nothing about which emails exist
    user = await auth_stack.register()
    assert (await login_from(auth_stack, "198.51.100.9", user.email, user.password)).status_code == 429
    assert (await login_from(auth_stack, "198.51.100.10", emails[-1], WRONG)).status_code == 401


@pytest.mark.auth_env(AUTH_PASSWORD_ACCOUNT_LIMIT="6")
async def test_guessing_one_account_from_many_sources_slows_them_but_not_the_owner(auth_stack) -> None:
    user = await auth_stack.register()
    owner = "192.0.2.10"
    assert (await login_from(auth_stack, owner, user.email, user.password)).status_code == 200
    for source in ("198.51.100.21", "198.51.100.22", "198.51.100.23"):
        for _ in range(2):
            assert (await login_from(auth_stack, source, user.email, WRONG)).status_code == 401
    # six failures from sources that never signed in: every such source now waits, even with the password
    assert (await login_from(auth_stack, "198.51.100.24", user.email, WRONG)).status_code == 429
    assert (await login_from(auth_stack, "198.51.100.21", user.email, user.password)).status_code == 429
    # the owner, from the address they signed in from before, is not locked out
    assert (await login_from(auth_stack, owner, user.email, user.password)).status_code == 200
