"""OpenID Connect in a real browser: apps send people to our pages (``/oauth2/authorize``) and get them back.

The documented example apps (docs/examples/oidc-python with Authlib, docs/examples/oidc-node with openid-client)
run as real processes, registered with the example's own callback as redirect URI, and its back-channel and
post-logout URIs: the browser goes from the app to our pages and lands on the app, which exchanges the code,
checks the ID token against our JWKS and shows its claims; the person's session ends here and the app hears
it by back-channel logout; the app's Sign out signs the person out here too (RP-initiated logout). The other
tests play an app by its callback alone, a small server that notes what it heard (Playwright's routes are not
asked about the redirects that lead there).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
import pytest

from twofold_common.testing.pages import Visitor
from twofold_common.testing.people import Person
from twofold_common.testing.processes import free_port
from twofold_common.testing.waiting import eventually
from twofold_web.words import WORDS

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"
EXAMPLE_APPS = {
    "python": [sys.executable, str(EXAMPLES / "oidc-python" / "app.py")],
    "node": ["node", str(EXAMPLES / "oidc-node" / "app.mjs")],
}


@pytest.fixture
async def example_app(tmp_path: Path) -> AsyncIterator[Callable[[str, dict, str], Awaitable[None]]]:
    """Starts a documented example app as its README says, against the system's public address."""
    started: list[subprocess.Popen[bytes]] = []

    async def start(language: str, client: dict, app_url: str, *, issuer: str) -> None:
        if language == "node" and not (shutil.which("node") and (EXAMPLES / "oidc-node" / "node_modules").is_dir()):
            pytest.fail("node, or the Node example's packages, are missing: run `bash deploy/native/node-example.sh` "
                        "(./stack test does), which needs Node.js 20 or later")
        log = tmp_path / f"{language}-app.log"
        with log.open("wb") as out:
            process = subprocess.Popen(EXAMPLE_APPS[language], stdout=out, stderr=subprocess.STDOUT, env={
                **os.environ, "TWOFOLD_ISSUER": issuer, "CLIENT_ID": client["clientId"],
                "CLIENT_SECRET": client["clientSecret"], "APP_URL": app_url})
        started.append(process)

        async def answers() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"the {language} example exited:\n{log.read_text()}")
            try:
                async with httpx.AsyncClient() as http:
                    return (await http.get(app_url, timeout=2)).status_code == 200
            except httpx.TransportError:
                return False

        await eventually(answers, timeout=30, interval=0.1)

    yield start
    for process in started:
        process.terminate()
        await asyncio.to_thread(process.wait, 10)


async def register(system, redirect_uri: str, *options: str) -> dict:
    """An operator registers the app with auth's CLI (a process of its own: in a thread, while the test goes on)."""
    return await asyncio.to_thread(system.create_app, "--scope", "openid", "--scope", "email", "--redirect-uri",
                                   redirect_uri, *options)


async def enrolled_person(system) -> Person:
    return await system.enroll(await system.register())


def claims_shown(text: str | None) -> dict:
    assert text, "the app shows no claims"
    return json.loads(text)


@pytest.mark.parametrize("language", ["python", "node"])
async def test_an_example_app_signs_a_person_in_with_otp_refreshes_and_is_logged_out_by_twofold(
        system, visitor: Visitor, example_app, language: str) -> None:
    app_url = f"http://localhost:{free_port()}"  # another site than the gateway's 127.0.0.1, as an app is
    registered = asyncio.ensure_future(register(system, f"{app_url}/callback", "--first-party",
                                                "--backchannel-logout-uri", f"{app_url}/backchannel-logout",
                                                "--post-logout-redirect-uri", f"{app_url}/"))
    person = await enrolled_person(system) if language == "python" else None
    client = await registered
    await example_app(language, client, app_url, issuer=system.gateway.url)
    page = visitor.page
    await page.goto(app_url)
    await visitor.follow("#sign-in")
    assert visitor.at("/ui/signin")
    assert WORDS.signin_for_app.format(app="e2e app") in (await page.text_content("main") or "")
    if language == "node":
        # no account yet: sign up from there, the enrollment that cannot be skipped, the recovery codes,
        # then sign in, and on to the app
        await visitor.follow(f'text="{WORDS.signup_link}"')
        person = await visitor.sign_up()
        await visitor.enroll_with_an_app(person)
        assert visitor.at("/ui/signin")
        await system.heard_enrollment(person)
    assert person is not None
    await sign_in_on_the_page(visitor, person)  # on to the app, which got the code and exchanged it

    assert page.url == f"{app_url}/", page.url
    claims = claims_shown(await page.text_content("#id-token"))
    assert "otp" in claims["amr"] and "pwd" in claims["amr"]
    assert claims["iss"] == system.gateway.url and claims["aud"] == client["clientId"]
    assert claims["email"] == person.email and claims["sub"]
    userinfo = claims_shown(await page.text_content("#userinfo"))
    assert userinfo == {"sub": claims["sub"], "email": person.email, "email_verified": False}

    await visitor.follow("#refresh")
    again = claims_shown(await page.text_content("#id-token"))
    assert await page.text_content("#refreshes") == "1"
    assert (again["sub"], again["sid"], again["auth_time"]) == (claims["sub"], claims["sid"], claims["auth_time"])
    assert "nonce" not in again and claims["nonce"]

    async with httpx.AsyncClient() as http:  # the app refuses what is not a logout token of ours
        refused = await http.post(f"{app_url}/backchannel-logout", data={"logout_token": "not.a.token"})
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_request", refused.text

    # the person ends that sign-in from their account page: the app hears it by back-channel logout
    await visitor.open("/ui/account")
    sid = claims["sid"]
    await visitor.follow(f'#session-list li[data-session="{sid}"] a')
    await visitor.enter_code(await person.code())
    assert visitor.at("/ui/signin")
    await eventually(lambda: signed_out_of(page, app_url), timeout=15)
    assert await logout_tokens_taken(app_url) == 1

    # signed in again, the app's Sign out is RP-initiated logout: the person confirms here and comes back
    await visitor.follow("#sign-in")
    await sign_in_on_the_page(visitor, person)
    assert page.url == f"{app_url}/" and await page.locator("#sign-out").count() == 1
    await visitor.follow("#sign-out")
    assert visitor.at("/oauth2/logout") and await page.text_content("h1") == WORDS.logout_title
    await visitor.follow('form[action="/oauth2/logout/confirm"] button')
    assert await page.text_content("h1") == WORDS.signed_out_title
    await visitor.follow("#continue")
    assert page.url.startswith(f"{app_url}/?state=") and await page.locator("#signed-out").count() == 1
    assert await page.locator("#sign-in").count() == 1
    await visitor.open("/ui/account")
    assert visitor.at("/ui/signin")  # signed out here too

    async def told_of_both() -> bool:  # that sign-in ended too: its logout token came and was taken
        return await logout_tokens_taken(app_url) == 2
    await eventually(told_of_both, timeout=15)


async def sign_in_on_the_page(visitor: Visitor, person: Person) -> None:
    await visitor.page.fill("#email", person.email)
    await visitor.page.fill("#password", person.password)
    await visitor.follow('form[action="/ui/signin"] button')
    assert visitor.at("/ui/signin/code")
    await visitor.enter_code(await person.code())


async def signed_out_of(page, app_url: str) -> bool:
    await page.goto(app_url)
    return await page.locator("#sign-in").count() == 1


async def logout_tokens_taken(app_url: str) -> int:
    """How many logout tokens the example app validated and took (it says so at its back-channel endpoint)."""
    async with httpx.AsyncClient() as http:
        answer = await http.get(f"{app_url}/backchannel-logout")
    assert answer.status_code == 200, answer.text
    return answer.json()["accepted"]


def authorization(client: dict, redirect_uri: str, /, **params: str) -> tuple[str, str]:
    """An app's authorization request (PKCE S256, a state and a nonce) and its code verifier."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = {"client_id": client["clientId"], "redirect_uri": redirect_uri, "response_type": "code",
             "scope": "openid email", "state": secrets.token_urlsafe(8), "nonce": secrets.token_urlsafe(8),
             "code_challenge": challenge, "code_challenge_method": "S256", **params}
    return "/oauth2/authorize?" + urlencode(query), verifier


@pytest.fixture
async def app_callback() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    """An app's redirect URI, on another site than the gateway's, and what it heard each time the browser
    landed there."""
    heard: list[dict[str, str]] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        target = (await reader.readline()).decode().split()[1]
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        if target.startswith("/oidc/callback?"):
            heard.append({k: v[0] for k, v in parse_qs(urlsplit(target).query).items()})
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 7\r\n"
                     b"connection: close\r\n\r\nthe app")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    yield f"http://localhost:{server.sockets[0].getsockname()[1]}/oidc/callback", heard
    server.close()
    await server.wait_closed()


async def id_token(system, client: dict, code: str, redirect_uri: str, verifier: str) -> dict:
    answer = await system.http.post("/oauth2/token", auth=(client["clientId"], client["clientSecret"]), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "code_verifier": verifier})
    assert answer.status_code == 200, answer.text
    return jwt.decode(answer.json()["id_token"], options={"verify_signature": False})


async def test_signed_out_then_a_third_party_app_asks_consent_once_and_prompt_login_both_factors(system, visitor,
                                                                                         app_callback) -> None:
    """Also what the pages do before anyone signed in: ``prompt=none`` goes back with login_required, and a
    request that cannot go back to the app stays here; then ``login_hint`` fills the sign-in."""
    redirect_uri, heard = app_callback
    client, person = await asyncio.gather(register(system, redirect_uri), enrolled_person(system))
    page = visitor.page

    path, _ = authorization(client, redirect_uri, prompt="none")
    await visitor.open(path)
    assert heard[-1]["error"] == "login_required" and heard[-1]["iss"] == system.gateway.url
    assert heard[-1]["state"] == parse_qs(urlsplit(path).query)["state"][0]
    for params, alert in [({"redirect_uri": "https://evil.example/oidc/callback"}, WORDS.authorize_bad_redirect),
                          ({"client_id": "cl_0000000000000000"}, WORDS.authorize_unknown_client),
                          ({"scope": "openid", "a": "x" * 2000}, WORDS.authorize_bad_request)]:
        path, _ = authorization(client, redirect_uri, **params)
        answer = await page.goto(visitor.base_url + path)
        assert answer is not None and answer.status == 400
        assert visitor.at("/oauth2/authorize"), page.url  # the browser stays here
        assert await page.text_content("h1") == WORDS.authorize_invalid_title
        assert await page.text_content("[role=alert]") == alert
    assert len(heard) == 1

    path, _ = authorization(client, redirect_uri, login_hint=person.email)
    state = parse_qs(urlsplit(path).query)["state"][0]
    await visitor.open(path)
    assert visitor.at("/ui/signin") and await page.input_value("#email") == person.email  # login_hint
    await page.fill("#password", person.password)
    await visitor.follow('form[action="/ui/signin"] button')
    await visitor.enter_code(await person.code())
    assert visitor.at("/oauth2/authorize") and await page.text_content("h1") == WORDS.consent_title
    assert await page.locator("#scopes li").all_text_contents() == [WORDS.scope_email, WORDS.scope_openid]
    assert WORDS.consent_lead.format(app="e2e app") in (await page.text_content("main") or "")
    await visitor.follow('button[value="deny"]')
    assert heard[-1]["error"] == "access_denied" and heard[-1]["iss"] == system.gateway.url
    assert heard[-1]["state"] == state and "code" not in heard[-1] and len(heard) == 2

    path, verifier = authorization(client, redirect_uri)
    state = parse_qs(urlsplit(path).query)["state"][0]
    await visitor.open(path)
    assert await page.text_content("h1") == WORDS.consent_title  # denied is not remembered
    await visitor.follow('button[value="allow"]')
    assert page.url.startswith(redirect_uri + "?") and heard[-1]["state"] == state
    first = await id_token(system, client, heard[-1]["code"], redirect_uri, verifier)
    assert "otp" in first["amr"]

    path, _ = authorization(client, redirect_uri)
    await visitor.open(path)  # allowed once: straight back with a code
    assert page.url.startswith(redirect_uri + "?") and "code" in heard[-1] and len(heard) == 4

    # prompt=login: both factors again, although signed in, then a code for the new sign-in
    path, verifier = authorization(client, redirect_uri, prompt="login")
    await visitor.open(path)
    assert visitor.at("/ui/signin")
    await page.fill("#password", person.password)
    await visitor.follow('form[action="/ui/signin"] button')
    assert visitor.at("/ui/signin/code")
    await visitor.enter_code(await person.code())
    assert page.url.startswith(redirect_uri + "?") and len(heard) == 5
    fresh = await id_token(system, client, heard[-1]["code"], redirect_uri, verifier)
    assert fresh["sid"] != first["sid"] and fresh["auth_time"] >= first["auth_time"]
