"""Who may call the vault, and what it answers to malformed requests: 4xx problems, never a 500."""

from __future__ import annotations

import uuid

import httpx
import pytest

from twofold_common.internal_auth import INTERNAL_AUTH_HEADER, InternalAuth
from twofold_common.internal_keys import new_signing_key, public_keys_json
from twofold_common.testing.http import dev_internal_auth

SEED_ID = str(uuid.uuid4())
STORE = {"subject": "s", "seed": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "code": "123456", "provider": "legitate",
         "registrationId": str(uuid.uuid4())}
# (method, path, body, the one service allowed to call it)
ROUTES = [
    ("POST", "/internal/seeds", STORE, "registration"),
    ("POST", "/internal/seeds/generate", {"subject": "s", "account": "a", "registrationId": str(uuid.uuid4())},
     "registration"),
    ("POST", f"/internal/seeds/{SEED_ID}/confirm", {"code": "123456"}, "registration"),
    ("POST", "/internal/verify", {"subject": "s", "code": "123456"}, "auth"),
    ("GET", "/internal/subjects/s/authenticators", None, "auth registration"),
    ("GET", "/internal/subjects/s/recovery-codes", None, "auth"),
    ("PATCH", f"/internal/seeds/{SEED_ID}", {"label": "x"}, "auth"),
    ("DELETE", f"/internal/seeds/{SEED_ID}", None, "auth"),
    ("POST", "/internal/subjects/s/recovery-codes", None, "auth"),
    ("POST", "/internal/subjects/s/unlock", None, "auth"),
    ("DELETE", "/internal/subjects/s", None, "auth"),
]


def assert_problem(response: httpx.Response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    if code is not None:
        assert response.json()["type"].endswith(f"/{code}")


@pytest.mark.parametrize(("method", "path", "body", "allowed"), ROUTES)
async def test_every_route_needs_a_token_from_its_caller(vault, method: str, path: str, body: dict | None,
                                                         allowed: str) -> None:
    async with httpx.AsyncClient(base_url=vault.process.url) as http:
        assert_problem(await http.request(method, path, json=body), 401, "internal-auth")
        # the gateway's real key in a token that claims to come from the allowed caller
        forged = dev_internal_auth(allowed.split()[0], key_of="gateway").token_for("vault")
        assert_problem(await http.request(method, path, json=body, headers={INTERNAL_AUTH_HEADER: forged}), 401,
                       "internal-auth")
    for caller in {"auth", "registration", "gateway"} - set(allowed.split()):
        async with vault.client(caller) as http:
            assert_problem(await http.request(method, path, json=body), 403, "internal-auth")


async def test_a_callers_new_key_works_beside_the_old_one_until_the_old_one_leaves_the_ring(start_vault) -> None:
    """Rotation of auth's key: the vault's ring lists old and new while auth's replicas switch, then the new
    one only."""
    old, new = new_signing_key("auth", "auth-old"), new_signing_key("auth", "auth-new")
    before, after = InternalAuth("auth", old, {}), InternalAuth("auth", new, {})
    path = "/internal/subjects/s/authenticators"
    both = await start_vault("vault-both", internal_public_keys=public_keys_json({"auth": [old, new]}))
    for signer in (before, after):
        async with both.client(signer=signer) as http:
            assert (await http.get(path)).status_code == 200
    only_new = await start_vault("vault-new", internal_public_keys=public_keys_json({"auth": [new]}))
    async with only_new.client(signer=after) as http:
        assert (await http.get(path)).status_code == 200
    async with only_new.client(signer=before) as http:
        assert_problem(await http.get(path), 401, "internal-auth")


@pytest.mark.parametrize(("path", "body"), [
    ("/internal/seeds", {**STORE, "code": "12ab56"}),
    ("/internal/seeds", {**STORE, "code": "1234567"}),
    ("/internal/seeds", {k: v for k, v in STORE.items() if k != "registrationId"}),
    ("/internal/seeds", {k: v for k, v in STORE.items() if k != "seed"}),
    ("/internal/seeds", {**STORE, "provider": "native"}),
    ("/internal/seeds", {**STORE, "digits": 7}),
    ("/internal/seeds", {**STORE, "algorithm": "MD5"}),
    ("/internal/seeds", {**STORE, "period": 0}),
    ("/internal/seeds", {**STORE, "subject": "a/b"}),
    ("/internal/seeds", {**STORE, "subject": "line\nbreak"}),
    ("/internal/seeds", {**STORE, "subject": "x" * 256}),
    ("/internal/seeds", {**STORE, "registrationId": "not-a-uuid"}),
    ("/internal/seeds", {**STORE, "seed": "A" * 300}),
    ("/internal/seeds", [STORE]),
    ("/internal/seeds/generate", {"subject": "s", "registrationId": str(uuid.uuid4())}),
    (f"/internal/seeds/{SEED_ID}/confirm", {"code": "abcdef"}),
    ("/internal/seeds/not-a-uuid/confirm", {"code": "123456"}),
    ("/internal/verify", {"code": "123456"}),
    ("/internal/verify", {"subject": "s", "code": 123456}),
    ("/internal/verify", {"subject": "s", "code": "123456", "seedId": "nope"}),
    ("/internal/verify", {"subject": "s"}),
    ("/internal/verify", {"subject": "s", "code": "123456", "recoveryCode": "abcde-fghij"}),
])
async def test_malformed_requests_are_422_problems_without_the_values(vault, path: str, body) -> None:
    caller = "auth" if path == "/internal/verify" else "registration"
    async with vault.client(caller) as http:
        response = await http.post(path, json=body)
    assert_problem(response, 422)
    assert STORE["seed"] not in response.text


async def test_malformed_json_and_huge_bodies_are_4xx(vault) -> None:
    async with vault.client("auth") as http:
        assert_problem(await http.post("/internal/verify", content=b"{nope",
                                       headers={"content-type": "application/json"}), 422)
        huge = {"subject": "s", "code": "1" * 200_000}
        assert_problem(await http.post("/internal/verify", json=huge), 413, "body-too-large")
        assert_problem(await http.get("/internal/subjects/%0A/authenticators"), 422)
        assert_problem(await http.patch(f"/internal/seeds/{SEED_ID}", json={"label": "   "}), 422)


@pytest.mark.parametrize("code", ["12ab56", "", "1" * 5000, "１２３４５６", "123456\n"])
async def test_a_malformed_code_is_a_wrong_code_not_an_error(vault, code: str) -> None:
    seed = await vault.enroll()
    async with vault.client("auth") as http:
        response = await http.post("/internal/verify", json={"subject": seed.subject, "code": code})
        assert response.json() == {"valid": False, "outcome": "invalid"}
        consumed = await http.post("/internal/verify", json={"subject": seed.subject, "recoveryCode": code})
        assert consumed.json() == {"valid": False, "outcome": "invalid", "recoveryCodesLeft": 0}
