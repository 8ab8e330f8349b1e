"""Every flow of the product, through the gateway only."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pyotp

from twofold_common import redirect_signature
from twofold_common.events import REGISTRATION_TOPIC, RegistrationRejected
from twofold_common.testing.http import bearer
from twofold_common.testing.metrics import moved
from twofold_common.testing.waiting import consumer_caught_up, eventually


async def test_first_party_register_enroll_login_refresh_sessions_logout(system) -> None:
    person = await system.register()
    # before enrollment nothing but enrollment is open, whatever is called
    assert (await system.login(person)).json()["status"] == "2fa_setup_required"
    for method, path in [("GET", "/api/auth/sessions"), ("GET", "/api/auth/2fa/status"),
                         ("POST", "/api/auth/logout"), ("GET", "/api/auth/audit")]:
        refused = await system.http.request(method, path, headers=bearer(person.setup_token))
        assert refused.status_code == 403, (path, refused.text)

    started = await system.setup(person)
    assert started.status_code == 201
    callback, person.enrollment = system.provider.accept(started.json()["deepLink"])
    assert (await system.browse(callback)).status_code == 200

    login = await eventually(lambda: _json_if(system.login(person), "status", "2fa_required"))
    assert login["totpSeedId"] == person.enrollment.seed_id
    assert login["deepLink"].endswith(f"seedId={person.enrollment.seed_id}")
    answer = await system.http.post("/api/auth/login/2fa", json={"challengeToken": login["challengeToken"],
                                                                "code": await person.code()})
    assert answer.status_code == 200
    tokens = answer.json()
    refreshed = await system.http.post("/api/auth/token/refresh", json={"refreshToken": tokens["refreshToken"]})
    assert refreshed.status_code == 200
    tokens = refreshed.json()
    sessions = await system.http.get("/api/auth/sessions", headers=bearer(tokens["accessToken"]))
    assert [s["id"] for s in sessions.json()["sessions"]] == [tokens["sessionId"]]
    assert (await system.http.post("/api/auth/logout", headers=bearer(tokens["accessToken"]))).status_code == 204
    after = await eventually(lambda: _status_if(
        system.http.get("/api/auth/sessions", headers=bearer(tokens["accessToken"])), 401))
    assert after.headers["content-type"] == "application/problem+json"


async def _json_if(request, key, value):
    body = (await request).json()
    return body if body.get(key) == value else None


async def _status_if(request, status):
    answer = await request
    return answer if answer.status_code == status else None


async def test_native_enrollment_from_the_otpauth_uri(system) -> None:
    person = await system.register()
    started = await system.setup(person, provider="native")
    assert started.status_code == 201
    body = started.json()
    assert "<svg" in body["qrSvg"]
    totp = pyotp.parse_uri(body["otpauthUri"])
    confirmed = await system.http.post("/api/auth/setup-2fa/confirm", json={
        "registrationToken": body["registrationToken"], "code": totp.now()})
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "completed"
    login = await eventually(lambda: _json_if(system.login(person), "status", "2fa_required"))
    step = int(__import__("time").time()) // totp.interval + 1
    answer = await system.http.post("/api/auth/login/2fa", json={
        "challengeToken": login["challengeToken"], "code": totp.at(step * totp.interval)})
    assert answer.status_code == 200, answer.text


async def test_the_provider_declines_and_the_account_stays_unusable(system) -> None:
    person = await system.register()
    started = (await system.setup(person)).json()
    answer = await system.browse(system.provider.decline(started["deepLink"]))
    assert answer.status_code == 200 and answer.json()["success"] is False
    rows = await system.sql("registration", "SELECT status FROM registrations WHERE user_id = $1::uuid",
                            person.user_id)
    assert [r["status"] for r in rows] == ["rejected"]
    # the rejection is on the broker, and auth's consumer has passed it: had it enabled the account, it would have
    await eventually(lambda: system.sql(
        "registration", "SELECT event_id FROM outbox_events WHERE event_type = $1 AND key = $2 "
                        "AND published_at IS NOT NULL", RegistrationRejected.type, person.user_id))
    await consumer_caught_up(system.stack.infra.kafka_bootstrap, system.stack["auth"].env["AUTH_CONSUMER_GROUP"],
                             REGISTRATION_TOPIC)
    assert (await system.login(person)).json()["status"] == "2fa_setup_required"


async def test_a_third_party_app_enrolls_its_user_and_verifies_codes_through_the_api(system) -> None:
    app = system.create_app("--callback-url", "https://app.example.com/2fa/done")
    key = (app["clientId"], app["clientSecret"])
    started = await system.http.post("/api/v1/setup", auth=key, json={
        "account": "acct-9", "email": "nine@example.com", "callbackUrl": "https://app.example.com/2fa/done"})
    assert started.status_code == 201, started.text
    token = started.json()["registrationToken"]
    callback, enrollment = system.provider.accept(started.json()["deepLink"])
    redirect = await system.browse(callback)
    assert redirect.status_code == 303
    location = redirect.headers["location"]
    assert location.startswith("https://app.example.com/2fa/done?") and enrollment.seed not in location
    params = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert redirect_signature.verify(app["clientSecret"], params) and params["seedId"] == enrollment.seed_id

    status = await system.http.get(f"/api/v1/registrations/{token}", auth=key)
    assert status.status_code == 200 and status.json()["status"] == "completed"
    code = enrollment.code_at(enrollment.current_step() + 1)
    verdict = await system.http.post("/api/v1/verify", auth=key, json={"account": "acct-9", "code": code})
    assert verdict.status_code == 200 and verdict.json() == {"valid": True}
    replay = await system.http.post("/api/v1/verify", auth=key, json={"account": "acct-9", "code": code})
    assert replay.json() == {"valid": False}
    wrong_key = await system.http.post("/api/v1/verify", auth=(app["clientId"], "sk_wrong-secret-value"),
                                      json={"account": "acct-9", "code": code})
    assert wrong_key.status_code == 401


async def test_an_apps_account_is_limited_and_locked_like_a_persons(system) -> None:
    """The vault decides an app's checks with the same rules: 5 codes per 15 minutes per account, and 10 wrong ones
    in an hour lock the account, after which its right code gets the wrong code's answer."""
    app = system.create_app("--callback-url", "https://app.example.com/2fa/done")
    key = (app["clientId"], app["clientSecret"])
    started = await system.http.post("/api/v1/setup", auth=key, json={
        "account": "acct-7", "callbackUrl": "https://app.example.com/2fa/done"})
    callback, enrollment = system.provider.accept(started.json()["deepLink"])
    assert (await system.browse(callback)).status_code == 303
    shown = {enrollment.code_at(enrollment.current_step() + d) for d in range(-4, 6)}
    wrong = next(c for c in (f"{n:06d}" for n in range(1, 100)) if c not in shown)
    before = await system.metrics("vault")

    def check(code: str):
        return system.http.post("/api/v1/verify", auth=key, json={"account": "acct-7", "code": code})

    statuses = []
    for _ in range(2):  # the quarter hour's five, then (aged as time would age them) five more
        statuses += [(await check(wrong)).status_code for _ in range(6)]
        await system.sql("vault", "UPDATE code_attempts SET attempted_at = attempted_at - interval '16 minutes' "
                                  "WHERE subject = $1", f"{app['clientId']}:acct-7")
    assert statuses == ([200] * 5 + [429]) * 2
    locked = await check(enrollment.code_at(enrollment.current_step() + 1))
    assert locked.status_code == 200 and locked.json() == {"valid": False}
    assert moved(before, await system.metrics("vault"), prefix="twofold_vault_") == {
        'twofold_vault_app_code_checks_total{outcome="invalid"}': 11,
        'twofold_vault_app_code_checks_total{outcome="limited"}': 2, "twofold_vault_lockouts_total": 1}


async def test_a_seed_mode_app_fetches_the_seed_once(system) -> None:
    app = system.create_app("--callback-url", "https://holder.example.com/cb", "--seed-mode")
    key = (app["clientId"], app["clientSecret"])
    started = (await system.http.post("/api/v1/setup", auth=key, json={
        "account": "acct-1", "callbackUrl": "https://holder.example.com/cb"})).json()
    callback, enrollment = system.provider.accept(started["deepLink"])
    assert (await system.browse(callback)).status_code == 303
    path = f"/api/v1/registrations/{started['registrationToken']}/seed"
    first = await system.http.post(path, auth=key)
    assert first.status_code == 200 and first.json()["seed"] == enrollment.seed
    assert (await system.http.post(path, auth=key)).status_code == 410


async def test_recovery_codes_sign_in_and_regeneration_invalidates_the_old_set(system) -> None:
    person = await system.enroll(await system.register())
    tokens = await system.sign_in(person)
    first = await system.http.post("/api/auth/2fa/recovery-codes", headers=bearer(tokens["accessToken"]),
                                  json={"code": await person.code()})
    assert first.status_code == 201
    old = first.json()["codes"]
    challenge = (await system.login(person)).json()["challengeToken"]
    used = await system.http.post("/api/auth/login/2fa", json={"challengeToken": challenge, "recoveryCode": old[0]})
    assert used.status_code == 200
    assert "rc" in __import__("jwt").decode(used.json()["accessToken"], options={"verify_signature": False})["amr"]

    second = await system.http.post("/api/auth/2fa/recovery-codes", headers=bearer(tokens["accessToken"]),
                                   json={"code": await person.code()})
    new = second.json()["codes"]
    challenge = (await system.login(person)).json()["challengeToken"]
    stale = await system.http.post("/api/auth/login/2fa", json={"challengeToken": challenge, "recoveryCode": old[1]})
    assert stale.status_code == 401
    fresh = await system.http.post("/api/auth/login/2fa", json={"challengeToken": challenge, "recoveryCode": new[0]})
    assert fresh.status_code == 200


async def test_lockout_after_repeated_failures_and_unlock_with_a_recovery_code(system) -> None:
    person = await system.enroll(await system.register())
    tokens = await system.sign_in(person)
    codes = (await system.http.post("/api/auth/2fa/recovery-codes", headers=bearer(tokens["accessToken"]),
                                   json={"code": await person.code()})).json()["codes"]
    before = {service: await system.metrics(service) for service in ("auth", "vault")}
    await system.lock_out(person)
    assert (await system.sql("auth", "SELECT status FROM users WHERE id = $1::uuid", person.user_id))[0]["status"] \
        == "locked"
    challenge = (await system.login(person)).json()["challengeToken"]
    right = await system.http.post("/api/auth/login/2fa",
                                   json={"challengeToken": challenge, "code": await person.code()})
    assert right.status_code == 401  # locked looks like a wrong code
    unlocked = await system.http.post("/api/auth/login/2fa", json={"challengeToken": challenge,
                                                                   "recoveryCode": codes[0]})
    assert unlocked.status_code == 200
    login = 'twofold_auth_second_factor_checks_total{action="login.second_factor",outcome="%s"}'
    assert moved(before["auth"], await system.metrics("auth"), prefix="twofold_auth_") == {
        'twofold_auth_password_checks_total{outcome="ok"}': 3,
        'twofold_auth_password_hash_seconds_count{operation="verify"}': 3,
        login % "wrong": 10, login % "locked": 1, login % "ok": 1}
    # the vault, which decides codes, locked the account
    assert moved(before["vault"], await system.metrics("vault"), prefix="twofold_vault_") == {
        "twofold_vault_lockouts_total": 1}


async def test_deleting_the_account_makes_every_service_forget_the_person(system) -> None:
    person = await system.enroll(await system.register())
    tokens = await system.sign_in(person)
    pending = await system.http.post("/api/auth/2fa/re-enroll", headers=bearer(tokens["accessToken"]),
                                    json={"code": await person.code()})
    person.setup_token = pending.json()["setupToken"]
    assert (await system.setup(person)).status_code == 201
    deleted = await system.http.post("/api/auth/account/delete", headers=bearer(tokens["accessToken"]),
                                    json={"code": await person.code()})
    assert deleted.status_code == 204

    async def forgotten() -> bool:
        seeds = await system.sql("vault", "SELECT count(*) AS n FROM seeds WHERE subject = $1", person.user_id)
        pending = await system.sql("registration", "SELECT count(*) AS n FROM registrations "
                                   "WHERE user_id = $1::uuid AND status = 'pending'", person.user_id)
        return seeds[0]["n"] == 0 and pending[0]["n"] == 0

    await eventually(forgotten, timeout=30)
    assert (await system.http.get("/api/auth/sessions", headers=bearer(tokens["accessToken"]))).status_code == 401
    assert (await system.login(person)).status_code == 401
