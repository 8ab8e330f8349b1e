"""OpenID Connect through the gateway: a real client library (Authlib) against auth as the provider.

The app is Authlib: its OpenID client does the discovery, builds the authorization request (PKCE S256, a
nonce, a state), exchanges the code and validates the ID token against our JWKS. The pages' part (they serve
``/oauth2/authorize``: test_oidc_pages.py drives them in a browser) is played here as they play it: the
person signs in through the public API, then the authorize API is called with the request's parameters and
the person's access token (or the check API, before anyone signed in). The rules live in auth, so they are
tested here, the cheaper way.

Logout: the app's back-channel logout endpoint is a real HTTP server the test runs, which validates the
logout tokens it is sent as an app would; RP-initiated logout is played in a real browser.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

import httpx
import jwt
import pytest
from aiohttp import web
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.integrations.starlette_client import OAuth

from twofold_common.testing.http import bearer
from twofold_common.testing.pages import Visitor
from twofold_common.testing.waiting import eventually
from twofold_web.words import WORDS

REDIRECT = "https://rp.example.com/oidc/callback"
AUTHORIZE = "/api/auth/oidc/authorize"
CHECK = "/api/auth/oidc/check"
BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT = "/api/auth/oidc/logout"
SIGNED_OUT = "https://rp.example.com/signed-out"  # the app's post-logout redirect URI


def register_app(system, *options: str) -> dict:
    """An operator registers the app with auth's CLI."""
    return system.create_app("--scope", "openid", "--scope", "email", "--redirect-uri", REDIRECT, *options)


def relying_party(system, app: dict):
    """The app's side: Authlib's OpenID client, configured from our discovery document."""
    base = str(system.http.base_url).rstrip("/")
    return OAuth().register("twofold", client_id=app["clientId"], client_secret=app["clientSecret"],
                            server_metadata_url=f"{base}/.well-known/openid-configuration",
                            client_kwargs={"scope": "openid email", "code_challenge_method": "S256"})


def token_client(system, app: dict, **options) -> AsyncOAuth2Client:
    base = str(system.http.base_url).rstrip("/")
    return AsyncOAuth2Client(app["clientId"], app["clientSecret"], scope="openid email", redirect_uri=REDIRECT,
                             code_challenge_method="S256", base_url=base, **options)


async def signed_in_person(system) -> tuple[object, dict]:
    person = await system.enroll(await system.register())
    return person, await system.sign_in(person)


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    return verifier, base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def request_for(app: dict, challenge: str, **params: str) -> dict[str, str]:
    return {"client_id": app["clientId"], "redirect_uri": REDIRECT, "response_type": "code", "scope": "openid email",
            "state": secrets.token_urlsafe(8), "nonce": secrets.token_urlsafe(8), "code_challenge": challenge,
            "code_challenge_method": "S256", **params}


async def pages_authorize(system, tokens: dict, params: dict) -> httpx.Response:
    """What the pages do with an authorization request for the signed-in person."""
    return await system.http.post(AUTHORIZE, json=params, headers=bearer(tokens["accessToken"]))


async def code_for(system, tokens: dict, params: dict) -> str:
    answer = await pages_authorize(system, tokens, params)
    assert answer.status_code == 200 and answer.json()["action"] == "redirect", answer.text
    query = parse_qs(urlsplit(answer.json()["redirectTo"]).query)
    assert query["state"] == [params["state"]], query
    return query["code"][0]


def redirected_error(answer: httpx.Response, params: dict) -> str:
    """The OAuth error the app hears at its redirect URI, with its state and our issuer (RFC 9207)."""
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["action"] == "redirect" and body["redirectTo"].startswith(REDIRECT + "?"), body
    query = {k: v[0] for k, v in parse_qs(urlsplit(body["redirectTo"]).query).items()}
    assert "code" not in query and query["state"] == params["state"] and query["iss"] == _issuer(answer), query
    return query["error"]


def _issuer(answer: httpx.Response) -> str:
    return f"{answer.request.url.scheme}://{answer.request.url.netloc.decode()}"


async def test_an_authlib_client_signs_a_person_in_and_its_id_token_says_otp(system) -> None:
    app = register_app(system, "--first-party")
    person, tokens = await signed_in_person(system)
    base = str(system.http.base_url).rstrip("/")
    rp = relying_party(system, app)

    metadata = await rp.load_server_metadata()
    assert metadata["issuer"] == base and metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["id_token_signing_alg_values_supported"] == ["RS256"]
    assert metadata["authorization_response_iss_parameter_supported"] is True
    keys = (await system.http.get("/.well-known/jwks.json")).json()["keys"]
    assert {(k["kty"], k["alg"], k["use"]) for k in keys} == {("OKP", "EdDSA", "sig"), ("RSA", "RS256", "sig")}

    started = await rp.create_authorization_url(REDIRECT)
    assert started["url"].startswith(f"{base}/oauth2/authorize?")
    params = dict(parse_qsl(urlsplit(started["url"]).query))
    assert params["code_challenge_method"] == "S256" and params["nonce"] == started["nonce"]
    answer = await pages_authorize(system, tokens, params)
    assert answer.status_code == 200 and answer.json()["action"] == "redirect", answer.text
    back = answer.json()["redirectTo"]
    query = {k: v[0] for k, v in parse_qs(urlsplit(back).query).items()}
    assert back.startswith(REDIRECT + "?") and query["state"] == started["state"] and query["iss"] == base

    token = await rp.fetch_access_token(redirect_uri=REDIRECT, code=query["code"],
                                        code_verifier=started["code_verifier"])
    assert token["token_type"] == "Bearer" and token["scope"] == "email openid" and token["refresh_token"]
    # Authlib checks the signature against our JWKS, the issuer, the nonce, azp and the times
    claims = await rp.parse_id_token(token, nonce=started["nonce"])
    assert claims["aud"] == app["clientId"] and claims["sub"] == person.user_id
    assert set(claims["amr"]) == {"pwd", "otp"} and claims["sid"] == tokens["sessionId"]
    assert claims["email"] == person.email and claims["email_verified"] is False
    signed_in_at = jwt.decode(tokens["accessToken"], options={"verify_signature": False})["iat"]
    assert abs(claims["auth_time"] - signed_in_at) <= 1
    assert jwt.get_unverified_header(token["id_token"])["alg"] == "RS256"

    info = await rp.userinfo(token=token)
    assert info == {"sub": person.user_id, "email": person.email, "email_verified": False}
    # the app's access token is good at userinfo only: the API takes it for no sign-in of the person
    assert (await system.http.get("/api/auth/sessions", headers=bearer(token["access_token"]))).status_code == 401

    # refresh, with client_secret_post this time: a new ID token for the same sign-in, and rotation
    async with token_client(system, app, token_endpoint_auth_method="client_secret_post") as client:
        refreshed = await client.refresh_token(metadata["token_endpoint"], refresh_token=token["refresh_token"])
        again = await rp.parse_id_token(refreshed, nonce=None)
        assert (again["sub"], again["sid"], again["auth_time"], again["aud"]) == (
            claims["sub"], claims["sid"], claims["auth_time"], claims["aud"])
        assert "nonce" not in again and refreshed["refresh_token"] != token["refresh_token"]
        assert (await rp.userinfo(token=refreshed))["sub"] == person.user_id
    # a person's refresh token is not an app's, and the other way round
    async with token_client(system, app) as client:
        with pytest.raises(OAuthError) as refused:
            await client.refresh_token(metadata["token_endpoint"], refresh_token=tokens["refreshToken"])
        assert refused.value.error == "invalid_grant"
    mixed = await system.http.post("/api/auth/token/refresh", json={"refreshToken": refreshed["refresh_token"]})
    assert mixed.status_code == 401
    # refused before being spent: both still refresh where they belong
    own = await system.http.post("/api/auth/token/refresh", json={"refreshToken": tokens["refreshToken"]})
    assert own.status_code == 200, own.text
    async with token_client(system, app) as client:
        assert "id_token" in await client.refresh_token(metadata["token_endpoint"],
                                                        refresh_token=refreshed["refresh_token"])
    # the person sees the app's session beside their own, and may end it there
    listed = (await system.http.get("/api/auth/sessions", headers=bearer(own.json()["accessToken"]))).json()
    app_session = jwt.decode(token["access_token"], options={"verify_signature": False})["sid"]
    assert {(s["id"], s.get("clientId")) for s in listed["sessions"]} == {
        (tokens["sessionId"], None), (app_session, app["clientId"])}


async def test_an_unknown_client_or_an_unregistered_redirect_uri_is_shown_never_redirected(system) -> None:
    app = register_app(system, "--first-party")
    api_only = system.create_app("--callback-url", REDIRECT)  # an API client without the openid scope
    _, tokens = await signed_in_person(system)
    _, challenge = pkce()
    for params, problem in [
        (request_for(app, challenge, redirect_uri=REDIRECT + "/other"), "invalid-redirect-uri"),
        (request_for(app, challenge, redirect_uri="https://evil.example/oidc/callback"), "invalid-redirect-uri"),
        (request_for(app, challenge, redirect_uri=REDIRECT + "?next=/"), "invalid-redirect-uri"),
        ({k: v for k, v in request_for(app, challenge).items() if k != "redirect_uri"}, "invalid-redirect-uri"),
        (request_for(app, challenge, client_id="cl_0000000000000000"), "unknown-client"),
        (request_for(api_only, challenge), "unknown-client"),
    ]:
        answer = await pages_authorize(system, tokens, params)
        assert answer.status_code == 400, (params, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["type"].endswith("/" + problem) and "redirectTo" not in answer.text


async def test_pkce_s256_openid_and_granted_scopes_are_required_and_errors_go_back_to_the_app(system) -> None:
    app = register_app(system, "--first-party")
    no_email = system.create_app("--scope", "openid", "--redirect-uri", REDIRECT, "--first-party")
    _, tokens = await signed_in_person(system)
    verifier, challenge = pkce()
    without_pkce = {k: v for k, v in request_for(app, challenge).items() if not k.startswith("code_challenge")}
    no_method = {k: v for k, v in request_for(app, challenge).items() if k != "code_challenge_method"}
    for params, error in [
        (without_pkce, "invalid_request"),
        (request_for(app, verifier, code_challenge_method="plain"), "invalid_request"),
        (no_method, "invalid_request"),  # RFC 7636 4.3: no method means plain
        (request_for(app, challenge, response_type="token"), "unsupported_response_type"),
        (request_for(app, challenge, response_type="code id_token"), "unsupported_response_type"),
        (request_for(app, challenge, scope="email"), "invalid_scope"),
        (request_for(no_email, challenge), "invalid_scope"),
        (request_for(app, challenge, prompt="none login"), "invalid_request"),
        (request_for(app, challenge, request="eyJhbGciOiJub25lIn0.e30."), "request_not_supported"),
    ]:
        assert redirected_error(await pages_authorize(system, tokens, params), params) == error, params
    # a scope we do not know is ignored (Core 3.1.2.1), so an app asking for profile still signs in
    await code_for(system, tokens, request_for(app, challenge, scope="openid profile offline_access"))


async def test_a_wrong_code_verifier_gets_no_tokens(system) -> None:
    app = register_app(system, "--first-party")
    _, tokens = await signed_in_person(system)
    verifier, challenge = pkce()
    code = await code_for(system, tokens, request_for(app, challenge))
    async with token_client(system, app) as client:
        for wrong in (pkce()[0], challenge, verifier[:-1]):
            with pytest.raises(OAuthError) as refused:
                await client.fetch_token("/oauth2/token", code=code, code_verifier=wrong)
            assert refused.value.error == "invalid_grant"
        # a failed exchange spends nothing: with its verifier the app gets its tokens
        assert "id_token" in await client.fetch_token("/oauth2/token", code=code, code_verifier=verifier)


async def test_a_reused_code_is_refused_and_the_tokens_of_its_first_use_stop_working(system) -> None:
    app = register_app(system, "--first-party")
    person, tokens = await signed_in_person(system)
    verifier, challenge = pkce()
    code = await code_for(system, tokens, request_for(app, challenge))
    async with token_client(system, app) as client:
        first = await client.fetch_token("/oauth2/token", code=code, code_verifier=verifier)
        app_session = jwt.decode(first["access_token"], options={"verify_signature": False})["sid"]
        with pytest.raises(OAuthError) as refused:
            await client.fetch_token("/oauth2/token", code=code, code_verifier=verifier)
        assert refused.value.error == "invalid_grant"
        with pytest.raises(OAuthError) as dead:
            await client.refresh_token("/oauth2/token", refresh_token=first["refresh_token"])
        assert dead.value.error == "invalid_grant"
    userinfo = await system.http.get("/oauth2/userinfo", headers=bearer(first["access_token"]))
    assert userinfo.status_code == 401 and 'error="invalid_token"' in userinfo.headers["www-authenticate"]
    [session] = await system.sql("auth", "SELECT revoked_reason FROM sessions WHERE id = $1::uuid", app_session)
    assert session["revoked_reason"] == "authorization-code-reuse"
    events = await system.sql("auth", "SELECT payload FROM outbox_events WHERE event_type = 'session.revoked.v1' "
                                      "AND position($1 in payload::text) > 0", app_session)
    assert len(events) == 1
    # the person's own session is theirs: the app's reuse does not sign them out
    assert (await system.http.get("/api/auth/sessions", headers=bearer(tokens["accessToken"]))).status_code == 200


async def test_a_code_is_refused_to_another_client(system) -> None:
    app, other = register_app(system, "--first-party"), register_app(system, "--first-party")
    _, tokens = await signed_in_person(system)
    verifier, challenge = pkce()
    code = await code_for(system, tokens, request_for(app, challenge))
    async with token_client(system, other) as thief:
        with pytest.raises(OAuthError) as refused:
            await thief.fetch_token("/oauth2/token", code=code, code_verifier=verifier)
        assert refused.value.error == "invalid_grant"
    async with token_client(system, app) as client:  # the app it was issued to still gets its tokens
        assert "id_token" in await client.fetch_token("/oauth2/token", code=code, code_verifier=verifier)


@pytest.mark.system_env(AUTH_OIDC_CODE_SECONDS="1")
async def test_an_expired_code_is_refused(system) -> None:
    app = register_app(system, "--first-party")
    _, tokens = await signed_in_person(system)
    verifier, challenge = pkce()
    code = await code_for(system, tokens, request_for(app, challenge))
    await asyncio.sleep(1.2)  # the code's lifetime, set to a second here
    async with token_client(system, app) as client:
        with pytest.raises(OAuthError) as refused:
            await client.fetch_token("/oauth2/token", code=code, code_verifier=verifier)
    assert refused.value.error == "invalid_grant" and "expired" in refused.value.description


async def test_prompt_login_and_max_age_ask_for_both_factors_again_and_third_parties_for_consent(system) -> None:
    app = register_app(system, "--first-party")
    third_party = register_app(system)
    person, tokens = await signed_in_person(system)
    _, challenge = pkce()
    login = await pages_authorize(system, tokens, request_for(app, challenge, prompt="login"))
    assert login.json() == {"action": "login", "reason": "prompt-login", "clientName": "e2e app"}
    await asyncio.sleep(1.1)  # the sign-in is now more than a second old
    stale = await pages_authorize(system, tokens, request_for(app, challenge, max_age="1"))
    assert stale.json() == {"action": "login", "reason": "max-age", "clientName": "e2e app"}
    params = request_for(app, challenge, max_age="1", prompt="none")
    assert redirected_error(await pages_authorize(system, tokens, params), params) == "login_required"
    await code_for(system, tokens, request_for(app, challenge, max_age="3600"))
    # the pages sign the person in anew and ask again, without prompt=login: a code for the new sign-in
    fresh = await system.sign_in(person)
    await code_for(system, fresh, request_for(app, challenge, max_age="5"))

    consent = await pages_authorize(system, tokens, request_for(third_party, challenge))
    assert consent.json() == {"action": "consent", "clientName": "e2e app", "scopes": ["email", "openid"]}
    params = request_for(third_party, challenge, prompt="none")
    assert redirected_error(await pages_authorize(system, tokens, params), params) == "consent_required"


async def test_the_token_endpoint_answers_oauth_errors_in_oauths_json(system) -> None:
    app = register_app(system, "--first-party")
    form = {"grant_type": "authorization_code", "code": "ac_x", "redirect_uri": REDIRECT, "code_verifier": "v" * 43}
    cases = [
        (dict(data=form, auth=(app["clientId"], "sk_wrong")), 401, "invalid_client"),
        (dict(data=form), 401, "invalid_client"),
        (dict(data={**form, "client_id": app["clientId"], "client_secret": app["clientSecret"]},
              auth=(app["clientId"], app["clientSecret"])), 400, "invalid_request"),
        (dict(content=b"grant_type=refresh_token&grant_type=authorization_code",
              headers={"content-type": "application/x-www-form-urlencoded"},
              auth=(app["clientId"], app["clientSecret"])), 400, "invalid_request"),
        (dict(json=form, auth=(app["clientId"], app["clientSecret"])), 400, "invalid_request"),
        (dict(data={"grant_type": "password"}, auth=(app["clientId"], app["clientSecret"])), 400,
         "unsupported_grant_type"),
        (dict(data=form, auth=(app["clientId"], app["clientSecret"])), 400, "invalid_grant"),
    ]
    for request, status, error in cases:
        answer = await system.http.post("/oauth2/token", **request)
        assert (answer.status_code, answer.json()["error"]) == (status, error), (request, answer.text)
        assert answer.headers["content-type"] == "application/json"
        assert answer.headers["cache-control"] == "no-store" and answer.headers["pragma"] == "no-cache"
    challenged = await system.http.post("/oauth2/token", data=form, auth=(app["clientId"], "sk_wrong"))
    assert challenged.headers["www-authenticate"].startswith("Basic")


async def test_before_anyone_signed_in_the_check_refuses_what_the_authorization_would(system) -> None:
    """The pages ask it before the person signs in: a request that cannot succeed is not worth a sign-in."""
    app = register_app(system, "--first-party")
    _, challenge = pkce()
    for params, problem in [(request_for(app, challenge, redirect_uri=REDIRECT + "/other"), "invalid-redirect-uri"),
                            (request_for(app, challenge, client_id="cl_0000000000000000"), "unknown-client"),
                            (request_for(app, challenge, client_id="cl_\x00"), "unknown-client")]:
        answer = await system.http.post(CHECK, json=params)
        assert answer.status_code == 400 and answer.json()["type"].endswith("/" + problem), answer.text
    without_pkce = {k: v for k, v in request_for(app, challenge).items() if k != "code_challenge"}
    assert redirected_error(await system.http.post(CHECK, json=without_pkce), without_pkce) == "invalid_request"
    params = request_for(app, challenge, prompt="none")
    assert redirected_error(await system.http.post(CHECK, json=params), params) == "login_required"
    answer = await system.http.post(CHECK, json=request_for(app, challenge, prompt="login", login_hint="a@b.example"))
    assert answer.json() == {"action": "login", "reason": "signed-out", "clientName": "e2e app"}
    # no one's access token goes with it, and none is taken for a sign-in: still login, never a code
    _, tokens = await signed_in_person(system)
    again = await system.http.post(CHECK, json=request_for(app, challenge), headers=bearer(tokens["accessToken"]))
    assert again.json()["action"] == "login"


async def test_a_third_party_app_is_allowed_once_per_scope_by_the_person_and_the_grant_goes_with_the_account(
        system) -> None:
    app, other_app = register_app(system), register_app(system)
    person, tokens = await signed_in_person(system)
    _, challenge = pkce()

    async def answer(client: dict, **params: str) -> dict:
        sent = request_for(client, challenge, scope=params.pop("scope", "openid"), **params)
        got = await pages_authorize(system, tokens, sent)
        assert got.status_code == 200, got.text
        return got.json()

    async def allowed() -> list:
        return [row["scopes"] for row in await system.sql(
            "auth", "SELECT scopes FROM consents WHERE user_id = $1::uuid", person.user_id)]

    assert (await answer(app))["action"] == "consent"
    params = request_for(app, challenge, scope="openid", consent="denied")
    assert redirected_error(await pages_authorize(system, tokens, params), params) == "access_denied"
    assert await allowed() == []
    assert (await answer(app, consent="granted"))["action"] == "redirect"
    assert await allowed() == [["openid"]]
    assert (await answer(app))["action"] == "redirect"  # asked once: the same scopes go through
    assert (await answer(app, prompt="none"))["action"] == "redirect"
    assert (await answer(app, prompt="consent"))["action"] == "consent"  # asks again, whatever was allowed
    assert (await answer(app, scope="openid email"))["action"] == "consent"  # more than was allowed
    assert (await answer(app, scope="openid email", consent="granted"))["action"] == "redirect"
    assert await allowed() == [["email", "openid"]]
    assert (await answer(app))["action"] == "redirect"  # fewer than was allowed
    assert (await answer(other_app))["action"] == "consent"  # a grant is for one app
    audited = await system.sql("auth", "SELECT outcome, details FROM audit_log WHERE user_id = $1::uuid AND "
                                       "action = 'oidc.consent' ORDER BY id", person.user_id)
    assert [(row["outcome"], json.loads(row["details"])["scopes"]) for row in audited] == [
        ("denied", ["openid"]), ("success", ["openid"]), ("success", ["email", "openid"])]

    deleted = await system.http.post("/api/auth/account/delete", json={"code": await person.code()},
                                     headers=bearer(tokens["accessToken"]))
    assert deleted.status_code == 204, deleted.text
    assert await allowed() == []
class LogoutReceiver:
    """An app's back-channel logout endpoint (Back-Channel Logout 1.0, 2.5), served by the test on a free port:
    it keeps what each request brought, and answers with ``statuses`` in turn, then 200."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.received: list[tuple[str, dict[str, str]]] = []  # content type, form
        self.uri = ""

    async def __aenter__(self) -> LogoutReceiver:
        app = web.Application()
        app.router.add_post("/backchannel-logout", self._receive)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.uri = f"http://{host}:{port}/backchannel-logout"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._runner.cleanup()

    async def _receive(self, request: web.Request) -> web.Response:
        self.received.append((request.content_type, {k: str(v) for k, v in (await request.post()).items()}))
        return web.Response(status=self.statuses.pop(0) if self.statuses else 200)

    async def tokens(self, count: int) -> list[str]:
        """The logout tokens of the first ``count`` requests, once that many came (within seconds)."""
        async def arrived() -> bool:
            return len(self.received) >= count
        await eventually(arrived, timeout=15)
        assert all(content_type == "application/x-www-form-urlencoded" and set(form) == {"logout_token"}
                   for content_type, form in self.received), self.received
        return [form["logout_token"] for _, form in self.received[:count]]


async def logout_claims(system, token: str, app: dict) -> dict:
    """Back-Channel Logout 2.6's validation, by the app: our JWKS's key, RS256, typ logout+jwt, iss, aud, the
    times, the event, and no nonce."""
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256" and header["typ"] == "logout+jwt", header
    keys = (await system.http.get("/.well-known/jwks.json")).json()["keys"]
    [key] = [jwt.PyJWK(k) for k in keys if k["kid"] == header["kid"]]
    claims = jwt.decode(token, key, algorithms=["RS256"], audience=app["clientId"], issuer=_base(system),
                        options={"require": ["iss", "aud", "iat", "exp", "jti", "events", "sid", "sub"]})
    assert claims["events"] == {BACKCHANNEL_LOGOUT_EVENT: {}} and "nonce" not in claims, claims
    assert 0 < claims["exp"] - claims["iat"] <= 300
    return claims


def _base(system) -> str:
    return str(system.http.base_url).rstrip("/")


async def app_signed_in(system, app: dict) -> tuple[object, dict, dict, dict]:
    """A person signed in, and the app signed in with the code flow from that sign-in: the person, their
    tokens, the app's tokens and its ID token's claims."""
    person, tokens = await signed_in_person(system)
    verifier, challenge = pkce()
    code = await code_for(system, tokens, request_for(app, challenge))
    async with token_client(system, app) as client:
        issued = await client.fetch_token("/oauth2/token", code=code, code_verifier=verifier)
    return person, tokens, issued, jwt.decode(issued["id_token"], options={"verify_signature": False})


async def test_signing_out_sends_the_app_a_logout_token_and_ends_its_session(system) -> None:
    async with LogoutReceiver() as receiver:
        app = register_app(system, "--first-party", "--backchannel-logout-uri", receiver.uri)
        person, tokens, issued, id_token = await app_signed_in(system, app)

        signed_out = await system.http.post("/api/auth/logout", headers=bearer(tokens["accessToken"]))
        assert signed_out.status_code == 204, signed_out.text
        [token] = await receiver.tokens(1)
    claims = await logout_claims(system, token, app)
    assert claims["sid"] == id_token["sid"] == tokens["sessionId"] and claims["sub"] == person.user_id
    async with token_client(system, app) as client:
        with pytest.raises(OAuthError) as refused:
            await client.refresh_token("/oauth2/token", refresh_token=issued["refresh_token"])
    assert refused.value.error == "invalid_grant"


async def test_an_app_that_did_not_take_its_logout_token_is_sent_another(system) -> None:
    async with LogoutReceiver(500) as receiver:
        app = register_app(system, "--first-party", "--backchannel-logout-uri", receiver.uri)
        person, tokens, _, id_token = await app_signed_in(system, app)
        # the person ends that sign-in from another device
        elsewhere = await system.sign_in(person)
        ended = await system.http.delete(f"/api/auth/sessions/{tokens['sessionId']}",
                                         headers=bearer(elsewhere["accessToken"]))
        assert ended.status_code == 204, ended.text
        first, second = await receiver.tokens(2)
    claims = [await logout_claims(system, token, app) for token in (first, second)]
    assert claims[0]["jti"] != claims[1]["jti"] and {c["sid"] for c in claims} == {id_token["sid"]}

    async def delivered() -> list:
        return await system.sql("auth", "SELECT failures, last_error FROM logout_deliveries "
                                        "WHERE client_id = $1 AND delivered_at IS NOT NULL", app["clientId"])
    assert [dict(row) for row in await eventually(delivered)] == [{"failures": 1, "last_error": "HTTP 500"}]


async def test_deleting_the_account_logs_its_apps_out(system) -> None:
    async with LogoutReceiver() as receiver:
        app = register_app(system, "--first-party", "--backchannel-logout-uri", receiver.uri)
        person, tokens, _, id_token = await app_signed_in(system, app)
        deleted = await system.http.post("/api/auth/account/delete", json={"code": await person.code()},
                                         headers=bearer(tokens["accessToken"]))
        assert deleted.status_code == 204, deleted.text
        [token] = await receiver.tokens(1)
    claims = await logout_claims(system, token, app)
    assert (claims["sub"], claims["sid"]) == (person.user_id, id_token["sid"])


async def test_a_logout_request_is_checked_before_the_person_is_asked(system) -> None:
    app = register_app(system, "--first-party", "--post-logout-redirect-uri", SIGNED_OUT)
    other = register_app(system, "--first-party", "--post-logout-redirect-uri", SIGNED_OUT + "/other")
    _, tokens, issued, _ = await app_signed_in(system, app)
    hint = issued["id_token"]
    metadata = (await system.http.get("/.well-known/openid-configuration")).json()
    assert metadata["end_session_endpoint"] == _base(system) + "/oauth2/logout"
    assert metadata["backchannel_logout_supported"] is metadata["backchannel_logout_session_supported"] is True

    back = await system.http.post(LOGOUT, json={"id_token_hint": hint, "post_logout_redirect_uri": SIGNED_OUT,
                                                "state": "s 1", "ui_locales": "en"})
    assert back.json() == {"redirectTo": SIGNED_OUT + "?state=s+1", "clientName": "e2e app"}, back.text
    stay = await system.http.post(LOGOUT, json={"client_id": app["clientId"], "state": "s"})
    assert stay.json() == {"redirectTo": None, "clientName": "e2e app"}
    assert (await system.http.post(LOGOUT, json={})).json() == {"redirectTo": None, "clientName": None}
    header, payload, signature = hint.split(".")
    for params, problem in [
        ({"id_token_hint": hint, "post_logout_redirect_uri": "https://evil.example/"},
         "invalid-post-logout-redirect-uri"),
        ({"id_token_hint": hint, "post_logout_redirect_uri": SIGNED_OUT + "?next=/"},
         "invalid-post-logout-redirect-uri"),
        ({"id_token_hint": hint, "post_logout_redirect_uri": SIGNED_OUT + "/other"},  # the other app's
         "invalid-post-logout-redirect-uri"),
        ({"post_logout_redirect_uri": SIGNED_OUT}, "invalid-post-logout-redirect-uri"),  # no app is named
        ({"id_token_hint": hint, "client_id": other["clientId"]}, "invalid-logout-request"),
        ({"id_token_hint": f"{header}.{payload}.{signature[::-1]}"}, "invalid-id-token-hint"),
        ({"id_token_hint": tokens["accessToken"]}, "invalid-id-token-hint"),  # ours, but no ID token
        ({"id_token_hint": "not a token"}, "invalid-id-token-hint"),
        ({"client_id": "cl_0000000000000000"}, "unknown-client"),
        ({"client_id": "cl_\u0000"}, "unknown-client"),
        ({"client_id": app["clientId"], "state": ["a", "b"]}, "invalid-logout-request"),
    ]:
        answer = await system.http.post(LOGOUT, json=params)
        assert answer.status_code == 400, (params, answer.text)
        assert answer.json()["type"].endswith("/" + problem) and "redirectTo" not in answer.text, params

    # an app may post its request as a form: it becomes the same request by GET, and the visit is left alone
    posted = await system.http.post("/oauth2/logout", data={"client_id": app["clientId"], "state": "s",
                                                            "other": "x"})
    assert posted.status_code == 303 and "set-cookie" not in posted.headers
    assert posted.headers["location"] == f"/oauth2/logout?client_id={app['clientId']}&state=s"


async def test_an_app_signs_the_person_out_in_their_browser_and_gets_them_back(system, open_page) -> None:
    app = register_app(system, "--first-party", "--post-logout-redirect-uri", SIGNED_OUT)
    person, _, issued, _ = await app_signed_in(system, app)
    visitor = Visitor(await open_page(), system.gateway.url, system.provider, system.window)
    page = visitor.page
    arrived = await visitor.app_at(SIGNED_OUT)
    await visitor.sign_in(person)
    assert visitor.at("/ui/account")

    # an address the app did not register: our page says so, the browser stays here, nothing changed
    await visitor.open("/oauth2/logout?" + urlencode({"id_token_hint": issued["id_token"], "state": "s",
                                                      "post_logout_redirect_uri": "https://evil.example/"}))
    assert visitor.at("/oauth2/logout") and await page.locator("h1").text_content() == WORDS.logout_refused_title
    await visitor.open("/ui/account")
    assert visitor.at("/ui/account")

    await visitor.open("/oauth2/logout?" + urlencode({"id_token_hint": issued["id_token"], "state": "s 1",
                                                      "post_logout_redirect_uri": SIGNED_OUT}))
    assert await page.locator("h1").text_content() == WORDS.logout_title
    assert WORDS.logout_app_lead.format(app="e2e app") in (await page.text_content("main") or "")
    await visitor.follow('form[action="/oauth2/logout/confirm"] button')
    assert await page.locator("h1").text_content() == WORDS.signed_out_title
    audited = await system.sql("auth", "SELECT outcome, details->>'clientId' AS app FROM audit_log "
                                       "WHERE user_id = $1::uuid AND action = 'oidc.logout'", person.user_id)
    assert [tuple(row.values()) for row in audited] == [("confirmed", app["clientId"])]
    await visitor.follow("#continue")
    assert arrived == [SIGNED_OUT + "?state=s+1"] and page.url == arrived[0]

    # the person's session has ended: the account asks for a sign-in
    await visitor.open("/ui/account")
    assert visitor.at("/ui/signin")
