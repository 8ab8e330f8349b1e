"""Attempt limits, lockout and bad input, against the real auth and vault processes.

The vault decides every code with the attempt limit and the lock (its own tests cover them for any subject); here,
what a person meets through auth: the limit counted per account across logins, the lock shown on the account and
lifted by a recovery code or an operator, one answer for wrong, replayed and locked.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from twofold_vault.settings import VaultSettings


async def attempts_by_outcome(auth_stack, user_id: uuid.UUID) -> dict[str, int]:
    """The TOTP codes of this user the vault decided, by outcome (``limited``: refused untried)."""
    rows = await auth_stack.sql_of("vault", "SELECT outcome, count(*) AS n FROM code_attempts WHERE subject = $1 "
                                   "AND method = 'totp' GROUP BY outcome", str(user_id))
    return {r["outcome"]: r["n"] for r in rows}


async def status_of(auth_stack, user_id: uuid.UUID) -> str:
    return (await auth_stack.sql("SELECT status FROM users WHERE id = $1", user_id))[0]["status"]


@pytest.mark.parametrize("setting", ["attempt_limit", "attempt_window_seconds", "lockout_failures",
                                     "lockout_window_seconds"])
def test_a_limit_or_window_below_one_is_refused(setting: str) -> None:
    """A limit of 0 would refuse every code (no one could sign in); a window of 0 would count nothing."""
    with pytest.raises(ValueError, match=setting):
        VaultSettings(**{setting: 0})


async def test_fifty_parallel_wrong_codes_get_at_most_five_evaluations(auth_stack) -> None:
    user = await auth_stack.enroll(await auth_stack.register())
    # one login each: a challenge takes five codes itself, the account's limit is what is under test
    challenges = [(await auth_stack.login(user)).json()["challengeToken"] for _ in range(50)]
    wrong = user.authenticator.wrong_code()
    answers = await asyncio.gather(*(
        auth_stack.http.post("/api/auth/login/2fa", json={"challengeToken": challenge, "code": wrong})
        for challenge in challenges
    ))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [401] * 5 + [429] * 45
    limited = next(a for a in answers if a.status_code == 429)
    assert int(limited.headers["retry-after"]) > 0
    assert limited.headers["content-type"] == "application/problem+json"
    assert await attempts_by_outcome(auth_stack, user.user_id) == {"failure": 5, "limited": 45}

    # a new password login does not buy new guesses, and the right code is refused too until the window passes
    fresh_challenge = (await auth_stack.login(user)).json()["challengeToken"]
    right = await auth_stack.http.post("/api/auth/login/2fa", json={
        "challengeToken": fresh_challenge, "code": await user.authenticator.fresh_code()})
    assert right.status_code == 429


async def test_fifty_parallel_uses_of_one_right_code_make_one_session(auth_stack) -> None:
    user = await auth_stack.enroll(await auth_stack.register())
    challenges = [(await auth_stack.login(user)).json()["challengeToken"] for _ in range(50)]
    code = await user.authenticator.fresh_code()
    answers = await asyncio.gather(*(
        auth_stack.http.post("/api/auth/login/2fa", json={"challengeToken": challenge, "code": code})
        for challenge in challenges
    ))
    # one wins; the replays are wrong codes (five of them), then the limit refuses the rest untried
    assert sorted(a.status_code for a in answers) == [200] + [401] * 5 + [429] * 44
    sessions = await auth_stack.sql("SELECT count(*) AS n FROM sessions WHERE user_id = $1", user.user_id)
    assert sessions[0]["n"] == 1


async def _answer(auth_stack, user, timeout: float = 60, **factor: str):
    """The answer to a second factor on a fresh login, once the attempt limit lets it through
    (the failures before count; a challenge takes five codes, so each try logs in anew)."""
    deadline = time.monotonic() + timeout
    while True:
        challenge = (await auth_stack.login(user)).json()["challengeToken"]
        answer = await auth_stack.http.post("/api/auth/login/2fa", json={"challengeToken": challenge, **factor})
        if answer.status_code != 429:
            return answer
        retry_after = float(answer.headers["retry-after"])
        assert time.monotonic() + retry_after < deadline, f"still limited after {timeout}s: {answer.text}"
        await asyncio.sleep(retry_after)  # the limit's window, as the answer says: a clock step, not a guess


@pytest.mark.auth_env(VAULT_ATTEMPT_WINDOW_SECONDS="2", AUTH_CHALLENGE_SECONDS="60")
async def test_ten_failures_lock_the_account_until_a_recovery_code_or_an_admin(auth_stack) -> None:
    user = await auth_stack.enroll(await auth_stack.register())
    tokens = await auth_stack.sign_in(user)
    codes = await auth_stack.http.post("/api/auth/2fa/recovery-codes",
                                       json={"code": await user.authenticator.fresh_code()},
                                       headers={"Authorization": f"Bearer {tokens['accessToken']}"})
    assert codes.status_code == 201, codes.text
    recovery = codes.json()["codes"]
    assert len(recovery) == 10 and len(set(recovery)) == 10

    wrong = user.authenticator.wrong_code()
    for _ in range(10):
        answer = await _answer(auth_stack, user, code=wrong)
        assert answer.status_code == 401 and answer.json()["type"].endswith("/invalid-code")
    assert "account.locked.v1" in await auth_stack.events_about(user.user_id, {"account.locked.v1"})

    # locked: the right code gets the wrong code's answer, and the password step still looks normal
    login = (await auth_stack.login(user)).json()
    assert login["status"] == "2fa_required"
    right = await _answer(auth_stack, user, code=await user.authenticator.fresh_code())
    assert right.status_code == 401 and right.json()["type"] == answer.json()["type"]

    unlocked = await _answer(auth_stack, user, recoveryCode=recovery[0])
    assert unlocked.status_code == 200, unlocked.text
    assert "account.unlocked.v1" in await auth_stack.events_about(user.user_id, {"account.unlocked.v1"})
    again = (await auth_stack.login(user)).json()["challengeToken"]
    reused = await auth_stack.http.post("/api/auth/login/2fa",
                                        json={"challengeToken": again, "recoveryCode": recovery[0]})
    assert reused.status_code == 401  # a recovery code works once

    # an admin can unlock too: lock again (the unlock cleared the failures; recovery codes never count),
    # then unlock through the admin API with an admin client
    for _ in range(9):
        assert (await _answer(auth_stack, user, code=wrong)).status_code == 401
    assert await status_of(auth_stack, user.user_id) == "active"
    assert (await _answer(auth_stack, user, code=wrong)).status_code == 401
    assert await status_of(auth_stack, user.user_id) == "locked"
    admin = auth_stack.create_client("--scope", "admin")
    unlock = await auth_stack.http.post(f"/api/admin/users/{user.user_id}/unlock",
                                        auth=(admin["clientId"], admin["clientSecret"]))
    assert unlock.status_code == 204
    assert await status_of(auth_stack, user.user_id) == "active"
    # the vault unlocked it too (it decides codes): the right code signs in again
    assert (await _answer(auth_stack, user, code=await user.authenticator.fresh_code())).status_code == 200
    not_admin = auth_stack.create_client("--scope", "verify")
    refused = await auth_stack.http.post(f"/api/admin/users/{user.user_id}/unlock",
                                         auth=(not_admin["clientId"], not_admin["clientSecret"]))
    assert refused.status_code == 403


# (path, body, the status and problem type it gets): what does not match the schema is a 422
# invalid-request, a value the database cannot store a 400 invalid-value, an unknown token a 401
BAD_REQUESTS = [
    ("/api/auth/register", {"email": "x@example.com"}, 422, "invalid-request"),
    ("/api/auth/register", {"email": "not-an-email", "password": "long enough password"}, 422, "invalid-request"),
    ("/api/auth/register", {"email": "x@example.com", "password": 12345678901}, 422, "invalid-request"),
    ("/api/auth/login", {"email": "x@example.com"}, 422, "invalid-request"),
    ("/api/auth/login", {"email": "nul\u0000@example.com", "password": "a password"}, 400, "invalid-value"),
    ("/api/auth/signin-with-2fa", {"email": "nul\u0000@example.com", "password": "a password"}, 422,
     "invalid-request"),
    ("/api/auth/login", ["email", "password"], 422, "invalid-request"),
    ("/api/auth/login/2fa", {"challengeToken": "ch_unknown_challenge_token", "code": "12ab56"}, 422,
     "invalid-request"),
    ("/api/auth/login/2fa", {"challengeToken": "ch_unknown_challenge_token"}, 422, "invalid-request"),
    ("/api/auth/login/2fa", {"challengeToken": "ch_unknown_challenge_token", "code": "123456",
                             "recoveryCode": "abcde-fghij"}, 422, "invalid-request"),
    ("/api/auth/login/2fa", {"challengeToken": "ch_unknown_challenge_token", "code": "123456"}, 401,
     "invalid-challenge"),
    ("/api/auth/verify-2fa-internal", {"email": "x@example.com", "code": 123456}, 422, "invalid-request"),
    ("/api/auth/token/refresh", {"refreshToken": "rt_not_a_real_refresh_token"}, 401, "invalid-refresh-token"),
    ("/api/auth/token/refresh", {}, 422, "invalid-request"),
]


async def test_bad_input_gets_its_own_4xx_problem_never_a_500(auth_stack) -> None:
    answers = []
    for path, body, _, _ in BAD_REQUESTS:
        answer = await auth_stack.http.post(path, json=body)
        problem = answer.json() if answer.headers["content-type"] == "application/problem+json" else {}
        answers.append((path, body, answer.status_code, problem.get("type", answer.text).rsplit("/", 1)[-1]))
    # all compared at once: a failure shows every request whose answer changed
    assert answers == BAD_REQUESTS
    huge = await auth_stack.http.post("/api/auth/register", content=b'{"email": "' + b"a" * 2_000_000 + b'"}',
                                      headers={"content-type": "application/json"})
    assert huge.status_code == 413
    not_json = await auth_stack.http.post("/api/auth/login", content=b"email=a&password=b",
                                          headers={"content-type": "application/x-www-form-urlencoded"})
    assert not_json.status_code == 415 and not_json.json()["type"].endswith("/unsupported-media-type")
    garbage_token = await auth_stack.http.get("/api/auth/sessions", headers={"Authorization": "Bearer a.b.c"})
    assert garbage_token.status_code == 401


@pytest.mark.auth_env(AUTH_CHALLENGE_SECONDS="1")
async def test_an_expired_challenge_is_refused(auth_stack) -> None:
    user = await auth_stack.enroll(await auth_stack.register())
    challenge = (await auth_stack.login(user)).json()["challengeToken"]
    await asyncio.sleep(1.5)
    answer = await auth_stack.http.post("/api/auth/login/2fa", json={
        "challengeToken": challenge, "code": await user.authenticator.fresh_code()})
    assert answer.status_code == 401 and answer.json()["type"].endswith("/invalid-challenge")
