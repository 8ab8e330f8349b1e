"""The two-step login on real processes: no session without both factors, tokens that verify, rotation, revocation."""

from __future__ import annotations

import asyncio
import uuid

import jwt
import pytest

from twofold_common.testing.http import bearer


async def test_no_session_is_possible_before_enrollment_completes(auth_stack) -> None:
    user = await auth_stack.register()
    login = await auth_stack.login(user)
    assert login.status_code == 200
    assert login.json()["status"] == "2fa_setup_required" and "challengeToken" not in login.json()
    # the setup token opens nothing but enrollment
    for method, path in [("GET", "/api/auth/sessions"), ("GET", "/api/auth/2fa/status"), ("POST", "/api/auth/logout")]:
        response = await auth_stack.http.request(method, path, headers=bearer(user.setup_token))
        assert response.status_code == 403, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    # no challenge exists, so the seed-compatible paths give nothing either
    verify = await auth_stack.http.post("/api/auth/verify-2fa-internal", json={
        "email": user.email, "challengeToken": "ch_not-a-challenge", "code": "123456"})
    assert verify.status_code == 401
    signin = await auth_stack.http.post("/api/auth/signin-with-2fa", json={
        "email": user.email, "password": user.password, "challengeToken": "ch_not-a-challenge"})
    assert signin.status_code == 401

    await auth_stack.enroll(user)
    login = (await auth_stack.login(user)).json()
    assert login["status"] == "2fa_required"
    assert login["totpSeedId"] == user.seed_id
    assert login["deepLink"].endswith(f"?seedId={user.seed_id}")
    assert login["challengeToken"].startswith("ch_")


async def test_wrong_code_gives_no_session_and_a_correct_one_gives_a_verifiable_token(auth_stack) -> None:
    user = await auth_stack.enroll(await auth_stack.register())
    challenge = (await auth_stack.login(user)).json()["challengeToken"]
    wrong = await auth_stack.http.post("/api/auth/login/2fa", json={"challengeToken": challenge,
                                                                    "code": user.authenticator.wrong_code()})
    assert wrong.status_code == 401 and wrong.json()["type"].endswith("/invalid-code")
    assert "accessToken" not in wrong.text

    ok = await auth_stack.http.post("/api/auth/login/2fa", json={"challengeToken": challenge,
                                                                 "code": await user.authenticator.fresh_code()})
    assert ok.status_code == 200, ok.text
    tokens = ok.json()
    jwks = (await auth_stack.http.get("/.well-known/jwks.json")).json()
    kid = jwt.get_unverified_header(tokens["accessToken"])["kid"]
    key = next(jwt.PyJWK(k).key for k in jwks["keys"] if k["kid"] == kid)
    claims = jwt.decode(tokens["accessToken"], key, algorithms=["EdDSA"], audience="twofold")
    assert claims["sub"] == str(user.user_id) and claims["sid"] == tokens["sessionId"]
    assert set(claims["amr"]) == {"pwd", "otp"} and {"iat", "exp", "iss"} <= claims.keys()

    # a challenge is good for one session only
    again = await auth_stack.http.post("/api/auth/login/2fa", json={"challengeToken": challenge,
                                                                    "code": await user.authenticator.fresh_code()})
    assert again.status_code == 401 and again.json()["type"].endswith("/invalid-challenge")


async def test_refresh_rotates_and_a_reused_refresh_token_revokes_the_session(auth_stack) -> None:
    user = await auth_stack.enroll(await auth_stack.register())
    first = await auth_stack.sign_in(user)
    second = await auth_stack.http.post("/api/auth/token/refresh", json={"refreshToken": first["refreshToken"]})
    assert second.status_code == 200
    second = second.json()
    assert second["refreshToken"] != first["refreshToken"] and second["sessionId"] == first["sessionId"]
    sessions = await auth_stack.http.get("/api/auth/sessions", headers=bearer(second["accessToken"]))
    assert [s["id"] for s in sessions.json()["sessions"]] == [first["sessionId"]]

    reuse = await auth_stack.http.post("/api/auth/token/refresh", json={"refreshToken": first["refreshToken"]})
    assert reuse.status_code == 401
    # the whole session is gone: the newest tokens stop working too
    assert (await auth_stack.http.post("/api/auth/token/refresh",
                                       json={"refreshToken": second["refreshToken"]})).status_code == 401
    ended = await auth_stack.http.get("/api/auth/sessions", headers=bearer(second["accessToken"]))
    assert ended.status_code == 401 and ended.json()["type"].endswith("/session-ended")


async def test_parallel_uses_of_one_refresh_token_rotate_it_once_and_end_the_session(auth_stack) -> None:
    user = await auth_stack.enroll(await auth_stack.register())
    first = await auth_stack.sign_in(user)
    answers = await asyncio.gather(*(auth_stack.http.post("/api/auth/token/refresh",
                                                          json={"refreshToken": first["refreshToken"]})
                                     for _ in range(20)))
    assert sorted(answer.status_code for answer in answers) == [200] + [401] * 19
    [won] = [answer.json() for answer in answers if answer.status_code == 200]
    # the others were reuses: the session ended, the winner's new token with it
    assert (await auth_stack.http.post("/api/auth/token/refresh",
                                       json={"refreshToken": won["refreshToken"]})).status_code == 401
    [row] = await auth_stack.sql("SELECT revoked_reason FROM sessions WHERE id = $1", uuid.UUID(first["sessionId"]))
    assert row["revoked_reason"] == "refresh-token-reuse"
    assert [r["n"] for r in await auth_stack.sql("SELECT count(*) AS n FROM refresh_tokens WHERE session_id = $1",
                                                 uuid.UUID(first["sessionId"]))] == [2]


async def test_logout_revoke_one_and_revoke_all(auth_stack) -> None:
    user = await auth_stack.enroll(await auth_stack.register())
    a = await auth_stack.sign_in(user)
    b = await auth_stack.sign_in(user)
    c = await auth_stack.sign_in(user)
    listed = (await auth_stack.http.get("/api/auth/sessions", headers=bearer(a["accessToken"]))).json()["sessions"]
    assert {s["id"] for s in listed} == {a["sessionId"], b["sessionId"], c["sessionId"]}
    assert [s["current"] for s in listed if s["id"] == a["sessionId"]] == [True]

    assert (await auth_stack.http.delete(f"/api/auth/sessions/{b['sessionId']}",
                                         headers=bearer(a["accessToken"]))).status_code == 204
    assert (await auth_stack.http.get("/api/auth/sessions", headers=bearer(b["accessToken"]))).status_code == 401
    assert (await auth_stack.http.delete(f"/api/auth/sessions/{uuid.uuid4()}",
                                         headers=bearer(a["accessToken"]))).status_code == 404

    assert (await auth_stack.http.post("/api/auth/logout", headers=bearer(c["accessToken"]))).status_code == 204
    assert (await auth_stack.http.get("/api/auth/sessions", headers=bearer(c["accessToken"]))).status_code == 401
    assert (await auth_stack.http.delete("/api/auth/sessions", headers=bearer(a["accessToken"]))).status_code == 204
    assert (await auth_stack.http.get("/api/auth/sessions", headers=bearer(a["accessToken"]))).status_code == 401


async def test_seed_compatible_two_call_login(auth_stack) -> None:
    user = await auth_stack.enroll(await auth_stack.register())
    login = (await auth_stack.login(user)).json()
    challenge = login["challengeToken"]
    password = {"email": user.email, "password": user.password, "challengeToken": challenge}
    early = await auth_stack.http.post("/api/auth/signin-with-2fa", json=password)
    assert early.status_code == 401  # the password alone never makes a session
    verified = await auth_stack.http.post("/api/auth/verify-2fa-internal", json={
        "email": user.email.upper(), "challengeToken": challenge, "code": await user.authenticator.fresh_code()})
    assert verified.status_code == 200 and verified.json()["verified"] is True
    wrong_password = await auth_stack.http.post("/api/auth/signin-with-2fa",
                                                json={**password, "password": "not the password"})
    assert wrong_password.status_code == 401
    # someone else who knows the password gets a login of their own: the owner's verification is not theirs
    other = (await auth_stack.login(user)).json()["challengeToken"]
    taken = await auth_stack.http.post("/api/auth/signin-with-2fa", json={**password, "challengeToken": other})
    assert taken.status_code == 401 and taken.json()["type"].endswith("/second-factor-required")
    signed_in = await auth_stack.http.post("/api/auth/signin-with-2fa", json=password)
    assert signed_in.status_code == 200, signed_in.text
    # the verification was for one sign-in only
    assert (await auth_stack.http.post("/api/auth/signin-with-2fa", json=password)).status_code == 401
    step_up = await auth_stack.http.post("/api/auth/verify-2fa", headers=bearer(signed_in.json()["accessToken"]),
                                         json={"code": await user.authenticator.fresh_code()})
    assert step_up.status_code == 200 and step_up.json()["verified"] is True


async def test_knowing_an_email_is_not_enough_to_block_or_lock_its_owner(auth_stack) -> None:
    user = await auth_stack.enroll(await auth_stack.register())
    access = bearer((await auth_stack.sign_in(user))["accessToken"])
    codes = (await auth_stack.http.post("/api/auth/2fa/recovery-codes", headers=access, json={
        "code": await user.authenticator.fresh_code()})).json()["codes"]
    owners_login = (await auth_stack.login(user)).json()["challengeToken"]
    # without the password there is no challenge to answer: a code needs one
    missing = await auth_stack.http.post("/api/auth/verify-2fa-internal", json={"email": user.email, "code": "123456"})
    assert missing.status_code == 422
    for _ in range(12):
        guess = await auth_stack.http.post("/api/auth/verify-2fa-internal", json={
            "email": user.email, "challengeToken": f"ch_{uuid.uuid4().hex}", "code": user.authenticator.wrong_code()})
        assert guess.status_code == 401 and guess.json()["type"].endswith("/invalid-challenge")
    rows = await auth_stack.sql("SELECT status FROM users WHERE id = $1", user.user_id)
    assert rows[0]["status"] == "active"
    answer = await auth_stack.http.post("/api/auth/login/2fa", json={
        "challengeToken": owners_login, "code": await user.authenticator.fresh_code()})
    assert answer.status_code == 200, answer.text

    # with the password, wrong codes reach the attempt limit, but never block a recovery code
    for _ in range(5):
        wrong = await auth_stack.http.post("/api/auth/login/2fa", json={
            "challengeToken": (await auth_stack.login(user)).json()["challengeToken"],
            "code": user.authenticator.wrong_code()})
        assert wrong.status_code == 401
    limited = await auth_stack.http.post("/api/auth/login/2fa", json={
        "challengeToken": (await auth_stack.login(user)).json()["challengeToken"],
        "code": await user.authenticator.fresh_code()})
    assert limited.status_code == 429
    recovered = await auth_stack.http.post("/api/auth/login/2fa", json={
        "challengeToken": (await auth_stack.login(user)).json()["challengeToken"], "recoveryCode": codes[0]})
    assert recovered.status_code == 200, recovered.text


async def test_a_challenge_takes_a_few_codes_then_the_password_again(auth_stack) -> None:
    user = await auth_stack.enroll(await auth_stack.register())
    challenge = (await auth_stack.login(user)).json()["challengeToken"]
    for _ in range(5):
        wrong = await auth_stack.http.post("/api/auth/login/2fa", json={"challengeToken": challenge,
                                                                       "recoveryCode": "aaaaa-aaaaa"})
        assert wrong.status_code == 401 and wrong.json()["type"].endswith("/invalid-code")
    spent = await auth_stack.http.post("/api/auth/login/2fa", json={
        "challengeToken": challenge, "code": await user.authenticator.fresh_code()})
    assert spent.status_code == 401 and spent.json()["type"].endswith("/invalid-challenge")


async def test_wrong_email_and_wrong_password_answer_the_same(auth_stack) -> None:
    user = await auth_stack.enroll(await auth_stack.register())
    unknown = await auth_stack.http.post("/api/auth/login", json={"email": "nobody@example.com", "password": "x" * 12})
    wrong = await auth_stack.http.post("/api/auth/login", json={"email": user.email, "password": "x" * 12})
    assert unknown.status_code == wrong.status_code == 401
    strip = lambda body: {k: v for k, v in body.items() if k != "request_id"}  # noqa: E731
    assert strip(unknown.json()) == strip(wrong.json())


@pytest.mark.processes  # restarts auth
async def test_everything_survives_an_auth_restart(auth_stack) -> None:
    user = await auth_stack.enroll(await auth_stack.register())
    tokens = await auth_stack.sign_in(user)
    challenge = (await auth_stack.login(user)).json()["challengeToken"]
    auth_stack.auth.restart()
    auth_stack.auth.wait_healthy(path="/readyz")
    sessions = await auth_stack.http.get("/api/auth/sessions", headers=bearer(tokens["accessToken"]))
    assert sessions.status_code == 200 and len(sessions.json()["sessions"]) == 1
    refreshed = await auth_stack.http.post("/api/auth/token/refresh", json={"refreshToken": tokens["refreshToken"]})
    assert refreshed.status_code == 200
    finished = await auth_stack.http.post("/api/auth/login/2fa", json={
        "challengeToken": challenge, "code": await user.authenticator.fresh_code()})
    assert finished.status_code == 200, finished.text
