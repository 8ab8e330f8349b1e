"""Registration tokens and the provider callback, on real processes."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest

from twofold_common import redirect_signature
from twofold_common.events import REGISTRATION_TOPIC
from twofold_common.testing.http import client_of
from twofold_common.testing.inprocess import InProcessService
from twofold_common.testing.processes import free_port
from twofold_common.testing.topics import events_in, records_until_now
from twofold_common.testing.waiting import eventually


async def status_of(flow, token: str) -> str:
    rows = await flow.registration_sql("SELECT status FROM registrations WHERE token_hash = sha256($1::bytea)",
                                       token.encode())
    return rows[0]["status"]


@pytest.mark.processes  # restarts registration
async def test_a_registration_survives_a_restart_between_setup_and_callback(flow) -> None:
    """Seed 000: the token was in memory and the callback failed after a restart."""
    user = await flow.new_user()
    started = await flow.start_setup(user["setupToken"])
    assert started.status_code == 201, started.text
    body = started.json()
    assert body["registrationToken"].startswith("reg_") and len(body["registrationToken"]) >= 4 + 22
    link = flow.provider.read_deep_link(body["deepLink"])
    assert link["action"] == "add" and link["account"] == user["email"]
    assert link["regToken"] == body["registrationToken"]
    assert link["callback"].endswith("/api/auth/totp-callback")

    flow.stack["registration"].restart()
    flow.stack["registration"].wait_healthy(path="/readyz")

    callback, enrollment = flow.provider.accept(body["deepLink"])
    answer = await flow.follow(callback)
    assert answer.status_code == 200, answer.text
    assert await status_of(flow, body["registrationToken"]) == "completed"
    # auth heard of it through Kafka: the account is usable, and login points at the provider's seed id
    assert await eventually(lambda: _is(flow.login_status(user["email"]), "2fa_required"))
    login = (await flow.auth.post("/api/auth/login", json={"email": user["email"],
                                                           "password": "correct horse battery staple"})).json()
    assert login["totpSeedId"] == enrollment.seed_id and enrollment.seed_id in login["deepLink"]


async def _is(awaitable, expected) -> bool:
    return await awaitable == expected


@pytest.mark.own_stack  # a second replica joins the consumer group, then stops
async def test_create_on_one_replica_and_call_back_on_the_other(flow) -> None:
    first = flow.stack["registration"]
    port = free_port()
    env = {**first.env, "REGISTRATION_PORT": str(port), "REGISTRATION_METRICS_PORT": str(free_port())}
    second = await InProcessService("registration-2", first.module, env, port).start()
    try:
        user = await flow.new_user()
        body = (await flow.start_setup(user["setupToken"])).json()
        callback, _ = flow.provider.accept(body["deepLink"])
        on_second = callback.replace(first.url, second.url)
        assert on_second != callback
        assert (await flow.follow(on_second)).status_code == 200
        assert await status_of(flow, body["registrationToken"]) == "completed"
    finally:
        await second.stop()


async def test_replays_stale_callbacks_wrong_codes_and_unknown_or_expired_tokens_are_refused(flow) -> None:
    user = await flow.new_user()
    body = (await flow.start_setup(user["setupToken"])).json()
    token = body["registrationToken"]

    stale, _ = flow.provider.accept(body["deepLink"], timestamp_ms=int((time.time() - 61) * 1000))
    answer = await flow.follow(stale)
    assert answer.status_code == 400 and answer.json()["type"].endswith("/stale-callback")
    future, _ = flow.provider.accept(body["deepLink"], timestamp_ms=int((time.time() + 60) * 1000))
    assert (await flow.follow(future)).status_code == 400
    assert await status_of(flow, token) == "pending"

    mismatch, _ = flow.provider.accept(body["deepLink"], code="000000")
    answer = await flow.follow(mismatch)
    assert answer.status_code == 400 and answer.json()["type"].endswith("/code-mismatch")
    assert await status_of(flow, token) == "pending"

    good, _ = flow.provider.accept(body["deepLink"])
    assert (await flow.follow(good)).status_code == 200
    replay = await flow.follow(good)
    assert replay.status_code == 409 and replay.headers["content-type"] == "application/problem+json"
    assert await status_of(flow, token) == "completed"

    unknown = good.replace(token, "reg_" + "x" * 43)
    assert (await flow.follow(unknown)).status_code == 404

    other = await flow.new_user()
    overdue = (await flow.start_setup(other["setupToken"])).json()
    await flow.registration_sql("UPDATE registrations SET expires_at = now() - interval '1 minute' "
                                "WHERE token_hash = sha256($1::bytea)", overdue["registrationToken"].encode())
    late, _ = flow.provider.accept(overdue["deepLink"])
    answer = await flow.follow(late)
    assert answer.status_code == 410
    assert await status_of(flow, overdue["registrationToken"]) == "expired"
    html = await flow.follow(late, accept="text/html")
    assert html.status_code == 410 and html.headers["content-type"].startswith("text/html")


async def test_a_declined_setup_rejects_the_token_and_the_account_stays_unusable(flow) -> None:
    user = await flow.new_user()
    body = (await flow.start_setup(user["setupToken"])).json()
    answer = await flow.follow(flow.provider.decline(body["deepLink"]), accept="text/html")
    assert answer.status_code == 200 and "declined" in answer.text
    assert await status_of(flow, body["registrationToken"]) == "rejected"
    assert await flow.login_status(user["email"]) == "2fa_setup_required"


async def test_native_enrollment_with_an_otpauth_uri_and_a_first_code(flow) -> None:
    user = await flow.new_user()
    started = await flow.start_setup(user["setupToken"], provider="native")
    assert started.status_code == 201, started.text
    body = started.json()
    assert body["qrSvg"].lstrip().startswith("<") and "deepLink" not in body
    totp = pyotp.parse_uri(body["otpauthUri"])
    wrong = await flow.registration.post("/api/auth/setup-2fa/confirm", json={
        "registrationToken": body["registrationToken"], "code": "000000" if totp.now() != "000000" else "111111"})
    assert wrong.status_code == 400
    confirmed = await flow.registration.post("/api/auth/setup-2fa/confirm", json={
        "registrationToken": body["registrationToken"], "code": totp.now()})
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "completed"
    assert await eventually(lambda: _is(flow.login_status(user["email"]), "2fa_required"))


async def test_third_party_apps_get_a_signed_redirect_without_the_seed(flow) -> None:
    app = flow.create_client("--callback-url", "https://app.example.com/2fa/done")
    exact = {"account": "acct-42", "email": "person@example.com", "callbackUrl": "https://app.example.com/2fa/done"}
    for near_miss in ("https://app.example.com/2fa/done/../evil", "https://app.example.com.evil.io/2fa/done",
                      "https://app.example.com/2fa/done?next=https://evil.io", "https://evil.io/2fa/done"):
        refused = await flow.registration.post("/api/auth/setup-2fa", json={**exact, "callbackUrl": near_miss},
                                               headers=flow.as_app(app["clientId"]))
        assert refused.status_code == 403, near_miss
    forged = await flow.registration.post("/api/auth/setup-2fa", json=exact,
                                          headers={"X-Twofold-Client-Id": app["clientId"]})
    assert forged.status_code == 401  # only the gateway may name the calling app

    started = await flow.registration.post("/api/auth/setup-2fa", json=exact, headers=flow.as_app(app["clientId"]))
    assert started.status_code == 201, started.text
    body = started.json()
    callback, enrollment = flow.provider.accept(body["deepLink"])
    answer = await flow.follow(callback)
    assert answer.status_code == 303
    location = answer.headers["location"]
    assert location.startswith("https://app.example.com/2fa/done?") and enrollment.seed not in location
    params = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert params["success"] == "true" and params["seedId"] == enrollment.seed_id
    assert redirect_signature.verify(app["clientSecret"], params)
    assert not redirect_signature.verify(app["clientSecret"], {**params, "seedId": "other"})

    status = await flow.registration.get(f"/api/auth/registrations/{body['registrationToken']}",
                                         headers=flow.as_app(app["clientId"]))
    assert status.status_code == 200 and status.json()["status"] == "completed"
    other_app = flow.create_client("--callback-url", "https://other.example.com/cb")
    hidden = await flow.registration.get(f"/api/auth/registrations/{body['registrationToken']}",
                                         headers=flow.as_app(other_app["clientId"]))
    assert hidden.status_code == 404

    # the app checks its user's codes through the API, answered by the vault under its limits; each code works once
    async with client_of(flow.stack["vault"]) as vault:
        def verify(code: str):
            return vault.post("/api/v1/verify", json={"account": "acct-42", "code": code},
                              headers=flow.as_app(app["clientId"], "vault"))

        fresh = enrollment.code_at(enrollment.current_step() + 1)
        assert (await verify(fresh)).json() == {"valid": True}
        assert (await verify(fresh)).json() == {"valid": False}
        assert (await vault.post("/api/v1/verify", json={"account": "acct-42", "code": fresh})).status_code == 401

    # the seed is in no log line and in no event
    for process in flow.stack.processes.values():
        assert enrollment.seed not in process.logs(), process.name
    events = await _registration_events(flow, app["clientId"])
    assert [event["type"] for _, event in events] == ["registration.completed.v1"]
    assert all(enrollment.seed.encode() not in record.value for record, _ in events)


async def _registration_events(flow, client_id: str) -> list:
    """Registration's events about this app's accounts, once registration has sent every event it wrote."""
    await eventually(lambda: _all_sent(flow))
    records = await records_until_now(flow.stack.infra.kafka_bootstrap, REGISTRATION_TOPIC)
    return [(record, event) for record, event in events_in(records) if event["data"].get("client_id") == client_id]


async def _all_sent(flow) -> bool:
    rows = await flow.registration_sql("SELECT count(*) AS n FROM outbox_events WHERE published_at IS NULL")
    return rows[0]["n"] == 0


@pytest.mark.own_stack  # stops Kafka
async def test_completion_while_the_broker_is_down_answers_at_once_and_auth_hears_later(flow) -> None:
    infra = flow.stack.infra
    infra.require_control("stops the broker")
    user = await flow.new_user()
    body = (await flow.start_setup(user["setupToken"])).json()
    callback, _ = flow.provider.accept(body["deepLink"])
    infra.stop_kafka()
    try:
        started = time.monotonic()
        answer = await flow.follow(callback)
        assert answer.status_code == 200 and time.monotonic() - started < 5
        assert await status_of(flow, body["registrationToken"]) == "completed"
        assert await flow.login_status(user["email"]) == "2fa_setup_required"
    finally:
        infra.start_kafka()
    assert await eventually(lambda: _is(flow.login_status(user["email"]), "2fa_required"), timeout=90)


@pytest.mark.registration_env(REGISTRATION_SWEEP_INTERVAL_SECONDS="1")
async def test_the_sweeper_expires_overdue_tokens(flow) -> None:
    user = await flow.new_user()
    body = (await flow.start_setup(user["setupToken"])).json()
    await flow.registration_sql("UPDATE registrations SET expires_at = now() - interval '1 second' "
                                "WHERE token_hash = sha256($1::bytea)", body["registrationToken"].encode())
    assert await eventually(lambda: _is(status_of(flow, body["registrationToken"]), "expired"))
    assert (await flow.registration_sql("SELECT count(*) AS n FROM outbox_events "
                                        "WHERE event_type = 'registration.expired.v1'"))[0]["n"] == 1


async def test_deleting_the_user_cancels_their_pending_registrations(flow) -> None:
    user = await flow.new_user()
    body = (await flow.start_setup(user["setupToken"])).json()
    callback, enrollment = flow.provider.accept(body["deepLink"])
    assert (await flow.follow(callback)).status_code == 200
    assert await eventually(lambda: _is(flow.login_status(user["email"]), "2fa_required"))
    login = (await flow.auth.post("/api/auth/login", json={"email": user["email"],
                                                           "password": "correct horse battery staple"})).json()
    enrolled = enrollment.last_step  # each time step is accepted once: the next codes are for the steps after it
    tokens = (await flow.auth.post("/api/auth/login/2fa", json={
        "challengeToken": login["challengeToken"], "code": await _next_code(flow, enrollment, enrolled + 1)})).json()
    # a re-enrollment starts and stays pending when the account is deleted
    signed_in = {"Authorization": f"Bearer {tokens['accessToken']}"}
    reenroll = await flow.auth.post("/api/auth/2fa/re-enroll", headers=signed_in,
                                    json={"code": await _next_code(flow, enrollment, enrolled + 2)})
    assert reenroll.status_code == 200, reenroll.text
    pending = (await flow.start_setup(reenroll.json()["setupToken"])).json()["registrationToken"]
    deleted = await flow.auth.post("/api/auth/account/delete", headers=signed_in,
                                   json={"code": await _next_code(flow, enrollment, enrolled + 3)})
    assert deleted.status_code == 204, deleted.text
    assert await eventually(lambda: _is(status_of(flow, pending), "expired"))
    reason = await flow.registration_sql("SELECT status_reason FROM registrations WHERE token_hash = sha256($1::bytea)",
                                         pending.encode())
    assert reason[0]["status_reason"] == "user-deleted"


async def _next_code(flow, enrollment, step: int) -> str:
    """A code for ``step``, waiting until the vault's window (``flow.window`` steps ahead) reaches it."""
    while step > enrollment.current_step() + flow.window:
        await asyncio.sleep(0.5)
    return enrollment.code_at(step)


@pytest.mark.own_stack  # counts every seed pickup
async def test_seed_mode_apps_fetch_the_seed_once_and_other_apps_never(flow) -> None:
    seed_app = flow.create_client("--callback-url", "https://vault-app.example.com/cb", "--seed-mode")
    plain_app = flow.create_client("--callback-url", "https://plain-app.example.com/cb")
    results = {}
    for app, url in ((seed_app, "https://vault-app.example.com/cb"), (plain_app, "https://plain-app.example.com/cb")):
        started = await flow.registration.post("/api/v1/setup", json={"account": "acct-7", "callbackUrl": url},
                                               headers=flow.as_app(app["clientId"]))
        assert started.status_code == 201, started.text
        token = started.json()["registrationToken"]
        callback, enrollment = flow.provider.accept(started.json()["deepLink"])
        redirect = await flow.follow(callback)
        assert redirect.status_code == 303 and enrollment.seed not in redirect.headers["location"]
        results[app["clientId"]] = (token, enrollment)

    token, enrollment = results[seed_app["clientId"]]
    path = f"/api/v1/registrations/{token}/seed"
    fetched = await flow.registration.post(path, headers=flow.as_app(seed_app["clientId"]))
    assert fetched.status_code == 200
    assert fetched.json() == {"seed": enrollment.seed, "seedId": enrollment.seed_id}
    assert (await flow.registration.post(path, headers=flow.as_app(seed_app["clientId"]))).status_code == 410
    assert (await flow.registration.post(path, headers=flow.as_app(plain_app["clientId"]))).status_code == 404

    plain_token, _ = results[plain_app["clientId"]]
    refused = await flow.registration.post(f"/api/v1/registrations/{plain_token}/seed",
                                           headers=flow.as_app(plain_app["clientId"]))
    assert refused.status_code == 410
    assert (await flow.registration_sql("SELECT count(*) AS n FROM seed_pickups"))[0]["n"] == 0
