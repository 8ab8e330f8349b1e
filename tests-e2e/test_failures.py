"""The failure stories of the seeds, and the attacks the system must refuse, through the gateway."""

from __future__ import annotations

import asyncio
import time

import pytest

from twofold_common.testing.http import bearer
from twofold_common.testing.metrics import moved
from twofold_common.testing.waiting import eventually


@pytest.mark.processes  # restarts registration
async def test_seed_000_a_registration_restart_between_setup_and_callback_loses_nothing(system) -> None:
    person = await system.register()
    started = (await system.setup(person)).json()
    system.stack["registration"].restart()
    system.stack["registration"].wait_healthy(path="/readyz")
    callback, person.enrollment = system.provider.accept(started["deepLink"])
    answer = await system.browse(callback)
    assert answer.status_code == 200, answer.text  # not "Registration token not found or invalid"
    await eventually(lambda: _login_status(system, person, "2fa_required"))


async def _login_status(system, person, status: str) -> bool:
    return (await system.login(person)).json().get("status") == status


@pytest.mark.processes  # stops Kafka under the processes, counts every completion and enabled user
async def test_a_broker_outage_during_completion_and_logins_loses_nothing_and_doubles_nothing(system) -> None:
    infra = system.stack.infra
    infra.require_control("stops the broker")
    active = await system.enroll(await system.register())
    newcomer = await system.register()
    started = (await system.setup(newcomer)).json()
    callback, newcomer.enrollment = system.provider.accept(started["deepLink"])

    infra.stop_kafka()
    try:
        completed = await system.browse(callback)
        assert completed.status_code == 200  # the person is answered at once; the event waits in the outbox
        challenge = (await system.login(active)).json()["challengeToken"]
        failed = await system.http.post("/api/auth/login/2fa", json={"challengeToken": challenge,
                                                                    "code": active.wrong_code()})
        assert failed.status_code == 401
        signed_in = await system.http.post("/api/auth/login/2fa", json={"challengeToken": challenge,
                                                                       "code": await active.code()})
        assert signed_in.status_code == 200  # logins do not need the broker
        assert (await system.login(newcomer)).json()["status"] == "2fa_setup_required"
    finally:
        infra.start_kafka()

    await eventually(lambda: _login_status(system, newcomer, "2fa_required"), timeout=90)
    # each completion was handled exactly once in effect (the topic also holds other tests' events)
    completions = [r["event_id"] for r in await system.sql(
        "registration", "SELECT event_id FROM outbox_events WHERE event_type = 'registration.completed.v1'")]
    handled = await system.sql("auth", "SELECT event_id, count(*) AS n FROM processed_events "
                                       "WHERE event_id = ANY($1::uuid[]) GROUP BY event_id", completions)
    assert len(completions) == 2 and sorted(r["event_id"] for r in handled) == sorted(completions)
    assert all(r["n"] == 1 for r in handled)
    enabled = await system.sql("auth", "SELECT count(*) AS n FROM users WHERE totp_enabled")
    assert enabled[0]["n"] == 2
    for service in ("auth", "registration"):
        unsent = await eventually(lambda s=service: _all_sent(system, s), timeout=60)
        assert unsent


async def _all_sent(system, service: str) -> bool:
    rows = await system.sql(service, "SELECT count(*) AS n FROM outbox_events WHERE published_at IS NULL")
    return rows[0]["n"] == 0


@pytest.mark.processes  # kills a service
@pytest.mark.parametrize("victim", ["auth", "registration", "vault", "gateway"])
async def test_a_service_killed_mid_flow_resumes_where_it_was(system, victim: str) -> None:
    person = await system.register()
    started = (await system.setup(person)).json()
    process = system.stack[victim]
    process.kill()  # SIGKILL: no graceful shutdown, no flush
    process.start()
    process.wait_healthy(path="/readyz")
    callback, person.enrollment = system.provider.accept(started["deepLink"])
    assert (await system.browse(callback)).status_code == 200
    await eventually(lambda: _login_status(system, person, "2fa_required"), timeout=60)
    tokens = await system.sign_in(person)
    assert (await system.http.post("/api/auth/token/refresh",
                                  json={"refreshToken": tokens["refreshToken"]})).status_code == 200


async def test_replayed_and_stale_callbacks_are_refused(system) -> None:
    person = await system.register()
    started = (await system.setup(person)).json()
    stale, _ = system.provider.accept(started["deepLink"], timestamp_ms=int((time.time() - 61) * 1000))
    answer = await system.browse(stale)
    assert answer.status_code == 400 and answer.json()["type"].endswith("/stale-callback")
    good, person.enrollment = system.provider.accept(started["deepLink"])
    assert (await system.browse(good)).status_code == 200
    replay = await system.browse(good)
    assert replay.status_code == 409


async def test_a_totp_code_is_accepted_once(system) -> None:
    person = await system.enroll(await system.register())
    code = await person.code()
    first = (await system.login(person)).json()["challengeToken"]
    second = (await system.login(person)).json()["challengeToken"]
    answers = await asyncio.gather(*(system.http.post("/api/auth/login/2fa", json={"challengeToken": c, "code": code})
                                     for c in (first, second)))
    assert sorted(a.status_code for a in answers) == [200, 401]


async def test_parallel_brute_force_on_one_account_gets_at_most_five_guesses(system) -> None:
    person = await system.enroll(await system.register())
    challenges = [(await system.login(person)).json()["challengeToken"] for _ in range(4)]
    # 20 different guesses, none of them a code the authenticator shows around now: none can be right by luck
    shown = {person.enrollment.code_at(person.enrollment.current_step() + d) for d in range(-4, 6)}
    guesses = [c for c in (f"{(i * 7919) % 1000000:06d}" for i in range(1, 40)) if c not in shown][:20]
    before = await system.metrics("auth")
    answers = await asyncio.gather(*(
        system.http.post("/api/auth/login/2fa", json={"challengeToken": challenges[i % 4], "code": guess})
        for i, guess in enumerate(guesses)
    ))
    # exactly five guesses evaluated and refused, every other one refused unevaluated: no 5xx, no fewer tries
    assert sorted(a.status_code for a in answers) == [401] * 5 + [429] * 15, [(a.status_code, a.text) for a in answers]
    assert all(a.json()["type"].endswith("/invalid-code") for a in answers if a.status_code == 401)
    evaluated = await system.sql("vault", "SELECT outcome, count(*) AS n FROM code_attempts "
                                          "WHERE subject = $1 GROUP BY outcome", person.user_id)
    assert {r["outcome"]: r["n"] for r in evaluated} == {"failure": 5, "limited": 15}
    checks = moved(before, await system.metrics("auth"), prefix="twofold_auth_second_factor")
    assert checks == {'twofold_auth_second_factor_checks_total{action="login.second_factor",outcome="wrong"}': 5,
                      'twofold_auth_second_factor_checks_total{action="login.second_factor",outcome="limited"}': 15}


async def test_open_redirects_through_callback_url_are_refused(system) -> None:
    app = system.create_app("--callback-url", "https://app.example.com/cb")
    key = (app["clientId"], app["clientSecret"])
    for url in ("https://evil.example.com/cb", "https://app.example.com.evil.io/cb", "https://app.example.com/cb/x",
                "https://app.example.com/cb?next=https://evil.io", "//evil.io/cb", "javascript:alert(1)"):
        refused = await system.http.post("/api/v1/setup", auth=key, json={"account": "a", "callbackUrl": url})
        assert refused.status_code == 403, url
    person = await system.register()
    first_party = await system.setup(person, callbackUrl="https://evil.example.com/cb")
    assert first_party.status_code == 422


async def test_a_session_token_after_logout_and_a_reused_refresh_token_are_refused(system) -> None:
    person = await system.enroll(await system.register())
    tokens = await system.sign_in(person)
    assert (await system.http.post("/api/auth/logout", headers=bearer(tokens["accessToken"]))).status_code == 204
    assert (await system.http.get("/api/auth/sessions", headers=bearer(tokens["accessToken"]))).status_code == 401

    other = await system.sign_in(person)
    rotated = (await system.http.post("/api/auth/token/refresh", json={"refreshToken": other["refreshToken"]})).json()
    reused = await system.http.post("/api/auth/token/refresh", json={"refreshToken": other["refreshToken"]})
    assert reused.status_code == 401
    # the reuse ended the session: the rotated pair is dead as well
    assert (await system.http.post("/api/auth/token/refresh",
                                  json={"refreshToken": rotated["refreshToken"]})).status_code == 401
    await eventually(lambda: _refused(system, rotated["accessToken"]))


async def _refused(system, access_token: str) -> bool:
    return (await system.http.get("/api/auth/sessions", headers=bearer(access_token))).status_code == 401
