"""Credentials the gateway refuses itself: such requests never reach a service (its access log proves it)."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from twofold_auth.settings import DEV_SIGNING_KEYS
from twofold_common.testing.http import bearer


def sign(claims: dict, key: Ed25519PrivateKey, kid: str) -> str:
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid})


def problem_type(answer: httpx.Response) -> str:
    assert answer.headers["content-type"] == "application/problem+json", answer.text
    return answer.json()["type"].rsplit("/", 1)[-1]


@pytest.mark.own_stack  # counts every request auth's log shows
async def test_forged_expired_foreign_and_setup_tokens_are_refused_before_auth(world) -> None:
    person = await world.enroll(await world.register())
    tokens = await world.sign_in(person)
    real = jwt.decode(tokens["accessToken"], options={"verify_signature": False})
    [(dev_kid, dev_key)] = json.loads(DEV_SIGNING_KEYS).items()
    auth_key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(dev_key))
    attacker_key = Ed25519PrivateKey.generate()
    now = int(time.time())
    refused = {
        "forged, unknown key id": sign(real, attacker_key, "attacker-1"),
        "forged, auth's key id": sign(real, attacker_key, dev_kid),
        "expired": sign({**real, "iat": now - 1000, "exp": now - 100}, auth_key, dev_kid),
        "wrong audience": sign({**real, "aud": "another-app"}, auth_key, dev_kid),
        "wrong issuer": sign({**real, "iss": "https://evil.example"}, auth_key, dev_kid),
        "unsigned": jwt.encode(real, "", algorithm="none", headers={"kid": dev_kid}),
        "not a token": "not-a-jwt",
    }
    path = "/api/auth/2fa/status"
    # the control: the real token reaches auth, and auth's log shows it
    before = world.requests_seen_by("auth", path)
    assert (await world.http.get(path, headers=bearer(tokens["accessToken"]))).status_code == 200
    await world.settled("auth")
    assert world.requests_seen_by("auth", path) == before + 1

    for name, token in refused.items():
        answer = await world.http.get(path, headers=bearer(token))
        assert answer.status_code == 401, name
        assert problem_type(answer) in {"invalid-token", "token-expired"}, name
        assert answer.headers["www-authenticate"].startswith("Bearer"), name
    missing = await world.http.get(path)
    assert missing.status_code == 401 and problem_type(missing) == "unauthenticated"
    setup = await world.http.get(path, headers=bearer(person.setup_token))
    assert setup.status_code == 403 and problem_type(setup) == "setup-token-only"
    for method, other in [("GET", "/api/auth/sessions"), ("POST", "/api/auth/logout")]:
        assert (await world.http.request(method, other, headers=bearer(person.setup_token))).status_code == 403
    await world.settled("auth")
    assert world.requests_seen_by("auth", path) == before + 1
    assert world.requests_seen_by("auth", "/api/auth/sessions") == 0

    # what is not in the route table reaches nobody, internal endpoints above all
    for method, hidden in [("POST", "/internal/clients/authenticate"), ("GET", "/internal/clients/x"),
                           ("GET", "/nowhere"), ("GET", "/api/auth/registrations/%2e%2e")]:
        answer = await world.http.request(method, hidden, json={"clientId": "x", "clientSecret": "y" * 10})
        assert answer.status_code == 404 and problem_type(answer) == "not-found", hidden
    await world.settled("auth")
    assert world.requests_seen_by("auth", "/internal/clients/authenticate") == 0
    wrong_method = await world.http.put("/api/auth/login", json={})
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "POST"


async def test_api_keys_scopes_spoofed_headers_and_the_third_party_flow(world) -> None:
    app = world.create_client("--scope", "setup", "--scope", "status", "--scope", "verify")
    verifier_only = world.create_client("--scope", "verify")
    key = httpx.BasicAuth(app["clientId"], app["clientSecret"])
    body = {"account": f"acct-{uuid.uuid4().hex[:6]}", "email": "someone@example.com",
            "callbackUrl": "https://app.example.com/2fa/done"}

    # A person's setup token plus an app id header: were it passed on, registration would take this for the
    # app's call; stripped, it is the person's own enrollment. An internal token from outside is refused.
    person = await world.register()
    forged = await world.http.post("/api/auth/setup-2fa", json={}, headers={
        **bearer(person.setup_token), "X-Internal-Auth": "eyJhbGciOiJIUzI1NiJ9.e30.forged"})
    assert forged.status_code == 401 and problem_type(forged) == "internal-auth"
    spoofed = await world.http.post("/api/auth/setup-2fa", json={}, headers={
        **bearer(person.setup_token), "X-Twofold-Client-Id": app["clientId"]})
    assert spoofed.status_code == 201, spoofed.text
    assert world.provider.read_deep_link(spoofed.json()["deepLink"])["account"] == person.email

    wrong = await world.http.post("/api/v1/setup", json=body, auth=httpx.BasicAuth(app["clientId"], "sk_wrong-secret"))
    assert wrong.status_code == 401 and problem_type(wrong) == "invalid-client"
    assert wrong.headers["www-authenticate"].startswith("Basic")
    malformed = await world.http.post("/api/v1/setup", json=body, headers={"Authorization": "Basic !!!"})
    assert malformed.status_code == 401
    anonymous = await world.http.post("/api/v1/setup", json=body)
    assert anonymous.status_code == 401 and problem_type(anonymous) == "unauthenticated"
    unscoped = await world.http.post("/api/v1/setup", json=body,
                                     auth=httpx.BasicAuth(verifier_only["clientId"], verifier_only["clientSecret"]))
    assert unscoped.status_code == 403 and problem_type(unscoped) == "scope-missing"

    # the right key right after a wrong one: a refusal is not remembered against the right secret
    started = await world.http.post("/api/v1/setup", json=body, auth=key)
    assert started.status_code == 201, started.text
    await world.settled("registration")
    assert world.requests_seen_by("registration", "/api/v1/setup") == 1  # this one only, none of the refused
    registration = started.json()["registrationToken"]
    status = await world.http.get(f"/api/v1/registrations/{registration}", auth=key)
    assert status.status_code == 200 and status.json()["status"] == "pending"
    assert status.json()["account"] == body["account"]  # registration knew which app asked
    hidden = await world.http.get(f"/api/auth/registrations/{registration}",
                                  auth=httpx.BasicAuth(verifier_only["clientId"], verifier_only["clientSecret"]))
    assert hidden.status_code == 403

    # the person finishes on the provider's page; the gateway passes the 303 back to the app on
    callback, enrollment = world.provider.accept(started.json()["deepLink"])
    async with httpx.AsyncClient(timeout=30) as browser:
        back = await browser.get(callback)
    assert back.status_code == 303, back.text
    location = back.headers["location"]
    assert location.startswith(body["callbackUrl"] + "?") and enrollment.seed not in location
    assert parse_qs(urlsplit(location).query)["success"] == ["true"]

    # the app asks the vault, through the gateway, whether a code is its user's
    step = enrollment.last_step + 1
    while step > enrollment.current_step() + 1:  # the vault accepts a time step once: wait for the next
        await asyncio.sleep(0.5)
    verdict = await world.http.post("/api/v1/verify", auth=key,
                                    json={"account": body["account"], "code": enrollment.code_at(step)})
    assert verdict.status_code == 200 and verdict.json()["valid"] is True, verdict.text

