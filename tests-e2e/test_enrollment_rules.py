"""Who may add or replace an authenticator, what an enrollment hands out, and what a login opens.

A setup token opens setup only while the account has no authenticator and is spent once an enrollment
completes; a session alone cannot add one; replacing one needs a fresh code of the current factor.
"""

from __future__ import annotations

import asyncio
import time

import pyotp
import pytest

from twofold_common.testing.http import bearer
from twofold_common.testing.waiting import eventually


def _totp(started: dict) -> pyotp.TOTP:
    return pyotp.parse_uri(started["otpauthUri"])


def _code(totp: pyotp.TOTP, ahead: int = 0) -> str:
    return totp.at(time.time() + ahead * totp.interval)


async def _login_status(system, person, status: str) -> dict | None:
    body = (await system.login(person)).json()
    return body if body.get("status") == status else None


async def _sign_in_with(system, person, code: str) -> int:
    challenge = (await system.login(person)).json()["challengeToken"]
    answer = await system.http.post("/api/auth/login/2fa", json={"challengeToken": challenge, "code": code})
    return answer.status_code


async def test_a_setup_token_opens_setup_only_until_an_enrollment_completes(system) -> None:
    person = await system.register()
    # two native enrollments started with the same setup token before either completes
    first = (await system.setup(person, provider="native")).json()
    second = (await system.setup(person, provider="native")).json()
    first_totp, second_totp = _totp(first), _totp(second)

    confirmed = await system.http.post("/api/auth/setup-2fa/confirm", json={
        "registrationToken": first["registrationToken"], "code": _code(first_totp)})
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "completed"
    assert len(confirmed.json()["recoveryCodes"]) == 10  # issued with the first enrollment, shown once

    late = await system.http.post("/api/auth/setup-2fa/confirm", json={
        "registrationToken": second["registrationToken"], "code": _code(second_totp)})
    assert late.status_code == 409 and late.json()["type"].endswith("/already-enrolled"), late.text
    for provider in ("legitate", "native"):
        again = await system.setup(person, provider=provider)
        assert again.status_code == 409 and again.json()["type"].endswith("/already-enrolled"), again.text

    await eventually(lambda: _login_status(system, person, "2fa_required"))
    assert await _sign_in_with(system, person, _code(second_totp, ahead=1)) == 401
    challenge = (await system.login(person)).json()["challengeToken"]
    tokens = (await system.http.post("/api/auth/login/2fa", json={
        "challengeToken": challenge, "code": _code(first_totp, ahead=1)})).json()
    status = (await system.http.get("/api/auth/2fa/status", headers=bearer(tokens["accessToken"]))).json()
    assert [(a["seedId"], a["provider"]) for a in status["authenticators"]] == [(status["seedId"], "native")]
    assert status["recoveryCodesRemaining"] == 10


async def test_a_session_alone_cannot_add_an_authenticator_and_replacing_needs_a_fresh_code(system) -> None:
    person = await system.enroll(await system.register())
    tokens = await system.sign_in(person)
    access = bearer(tokens["accessToken"])

    stolen = await system.http.post("/api/auth/setup-2fa", json={}, headers=access)
    assert stolen.status_code == 403 and stolen.json()["type"].endswith("/setup-token-required"), stolen.text
    guessed = await system.http.post("/api/auth/2fa/re-enroll", headers=access, json={"code": person.wrong_code()})
    assert guessed.status_code == 401

    reenroll = await system.http.post("/api/auth/2fa/re-enroll", headers=access, json={"code": await person.code()})
    assert reenroll.status_code == 200, reenroll.text
    started = await system.http.post("/api/auth/setup-2fa", json={"provider": "native"},
                                    headers=bearer(reenroll.json()["setupToken"]))
    assert started.status_code == 201, started.text
    new_totp = _totp(started.json())
    old_code = await person.code()  # the old authenticator works until the new one is confirmed
    confirmed = await system.http.post("/api/auth/setup-2fa/confirm", json={
        "registrationToken": started.json()["registrationToken"], "code": _code(new_totp)})
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["recoveryCodes"] is None  # the account keeps its recovery codes

    async def replaced() -> dict | None:
        status = (await system.http.get("/api/auth/2fa/status", headers=access)).json()
        return status if status["authenticators"][0]["provider"] == "native" else None

    status = await eventually(replaced)
    assert len(status["authenticators"]) == 1 and status["recoveryCodesRemaining"] == 10
    assert await _sign_in_with(system, person, old_code) == 401
    assert await _sign_in_with(system, person, _code(new_totp, ahead=1)) == 200


@pytest.mark.own_stack  # reads every recovery event in the vault's outbox
async def test_recovery_codes_come_with_the_providers_enrollment_and_each_use_is_counted(system) -> None:
    person = await system.register()
    started = (await system.setup(person)).json()
    callback, person.enrollment = system.provider.accept(started["deepLink"])
    page = await system.http.get(callback[len(system.gateway.url):], headers={"Accept": "text/html"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store"
    codes = [line.split("<code>")[1].split("</code>")[0] for line in page.text.split("<li>")[1:]]
    assert len(codes) == 10 and len(set(codes)) == 10

    login = await eventually(lambda: _login_status(system, person, "2fa_required"))
    # the provider made this seed: the login says so and links to it
    assert login["authenticator"] == "legitate"
    assert login["deepLink"].endswith(f"seedId={person.enrollment.seed_id}")
    used = await system.http.post("/api/auth/login/2fa", json={"challengeToken": login["challengeToken"],
                                                              "recoveryCode": codes[0]})
    assert used.status_code == 200, used.text
    access = bearer(used.json()["accessToken"])
    status = (await system.http.get("/api/auth/2fa/status", headers=access)).json()
    assert status["recoveryCodesRemaining"] == 9
    entries = (await system.http.get("/api/auth/audit", headers=access)).json()["entries"]
    assert [e["details"] for e in entries if e["action"] == "login.second_factor"] == [
        {"method": "recovery_code", "recovery_codes_left": "9"}]
    events = await system.sql("vault", "SELECT event_type FROM outbox_events WHERE event_type LIKE 'recovery%'")
    assert [e["event_type"] for e in events] == ["recovery_code.used.v1"]


async def test_a_native_authenticator_gets_no_provider_deep_link(system) -> None:
    person = await system.register()
    started = (await system.setup(person, provider="native")).json()
    confirmed = await system.http.post("/api/auth/setup-2fa/confirm", json={
        "registrationToken": started["registrationToken"], "code": _code(_totp(started))})
    assert confirmed.status_code == 200
    login = await eventually(lambda: _login_status(system, person, "2fa_required"))
    assert login["authenticator"] == "native"
    assert "deepLink" not in login


async def test_native_confirmation_takes_five_codes_per_window(system) -> None:
    person = await system.register()
    started = (await system.setup(person, provider="native")).json()
    totp = _totp(started)
    wrong = next(c for c in (f"{n:06d}" for n in range(10**6))
                 if c not in {_code(totp, d) for d in (-1, 0, 1)})
    for _ in range(5):
        refused = await system.http.post("/api/auth/setup-2fa/confirm", json={
            "registrationToken": started["registrationToken"], "code": wrong})
        assert refused.status_code == 400 and refused.json()["type"].endswith("/code-mismatch"), refused.text
    limited = await system.http.post("/api/auth/setup-2fa/confirm", json={
        "registrationToken": started["registrationToken"], "code": _code(totp)})
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0, limited.text
    # parallel tries cannot pass the limit either: a fresh registration, 20 codes at once
    other = (await system.setup(person, provider="native")).json()
    answers = await asyncio.gather(*(system.http.post("/api/auth/setup-2fa/confirm", json={
        "registrationToken": other["registrationToken"], "code": wrong}) for _ in range(20)))
    assert sorted(a.status_code for a in answers) == [400] * 5 + [429] * 15
