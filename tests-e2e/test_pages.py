"""The pages for people, in a real browser (Debian's Chromium, driven by Playwright), through the gateway
alone: sign up, enrollment that cannot be skipped, recovery codes, sign in with a code, the account."""

from __future__ import annotations

import contextlib
from urllib.parse import parse_qs, urlencode, urlsplit

import pyotp
import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Error as PlaywrightError

from twofold_common import redirect_signature
from twofold_common.testing.browser import DESKTOP, PHONE
from twofold_common.testing.pages import Visitor
from twofold_common.testing.people import Person
from twofold_web.words import WORDS


def exact(text: str) -> str:
    """A selector of the element whose whole text is ``text``."""
    return f'text="{text}"'


async def test_sign_up_to_a_signed_in_account_with_only_the_pages_at_phone_width(new_visitor, system) -> None:
    visitor = await new_visitor(PHONE)
    page = visitor.page
    person = await visitor.sign_up()
    assert visitor.at("/ui/enroll")
    await visitor.start_with_an_app(person)
    assert await page.locator("figure.qr svg").count() == 1
    code_field = page.locator("#code")
    assert await code_field.get_attribute("autocomplete") == "one-time-code"
    assert await code_field.get_attribute("inputmode") == "numeric"
    await visitor.enter_code(await person.code())
    assert visitor.at("/ui/recovery-codes")
    codes = await visitor.recovery_codes()
    assert len(codes) >= 8
    async with page.expect_download() as download:
        await page.click(exact(WORDS.recovery_download))
    saved = (await (await download.value).path()).read_text()
    assert all(code in saved for code in codes)
    # "saved them" is asked before anything else opens
    await visitor.follow(exact(WORDS.recovery_continue))
    assert await visitor.error_of("saved") == WORDS.recovery_confirm
    assert await visitor.recovery_codes() == codes
    await visitor.save_recovery_codes()
    assert visitor.at("/ui/signin")
    assert await page.input_value("#email") == person.email
    await system.heard_enrollment(person)
    await visitor.sign_in(person)
    assert visitor.at("/ui/account")
    assert person.email in (await page.text_content("main") or "")


async def test_pages_are_framed_by_no_one_run_no_script_and_keep_the_visit_out_of_reach(visitor) -> None:
    answer = await visitor.page.goto(visitor.base_url + "/ui/signin")
    assert answer is not None and answer.status == 200
    headers = answer.headers
    policy = headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "script-src 'none'" in policy and "unsafe-inline" not in policy
    assert headers["x-frame-options"] == "DENY"
    assert headers["cache-control"] == "no-store"
    [cookie] = await visitor.page.context.cookies()
    assert cookie["name"] == "__Host-twofold"
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Lax"
    assert await visitor.page.evaluate("document.cookie") == ""


async def test_enrollment_cannot_be_skipped_by_another_url_the_back_button_or_a_new_browser(visitor,
                                                                                              new_visitor) -> None:
    person = await visitor.sign_up()
    for path in ["/ui/account", "/", "/ui/signin", "/ui/signup", "/ui/signin/code", "/ui/account/confirm/delete",
                 "/ui/recovery-codes"]:
        await visitor.open(path)
        assert visitor.at("/ui/enroll"), path
    key = await visitor.start_with_an_app(person)
    await visitor.open("/ui/account")  # leaving and coming back lands on the same step, the same key
    assert visitor.at("/ui/enroll")
    assert (await visitor.page.text_content("#key") or "").replace(" ", "") == key
    # a browser without the visit: the password leads to enrollment again, never to a session
    elsewhere = await new_visitor()
    await elsewhere.enter_password(person)
    assert elsewhere.at("/ui/enroll")
    await visitor.enter_code(await person.code())
    assert visitor.at("/ui/recovery-codes")
    await visitor.page.go_back()
    assert visitor.at("/ui/recovery-codes")
    await visitor.save_recovery_codes()
    await visitor.page.go_back()  # the codes were shown once: back does not show them again
    assert not visitor.at("/ui/recovery-codes")
    assert await visitor.page.locator("#recovery-codes").count() == 0


async def test_the_provider_way_and_the_code_page_button_that_opens_the_authenticator(visitor, system) -> None:
    person = await visitor.sign_up()
    await visitor.enroll_with_the_provider(person)
    page = visitor.page
    assert "/api/auth/totp-callback" in page.url
    assert await page.locator("#recovery-codes li").count() >= 8
    await page.check("#saved")
    await visitor.follow("text=Continue")  # to the pages, which notice the completed enrollment
    assert visitor.at("/ui/signin")
    await system.heard_enrollment(person)
    await visitor.enter_password(person)
    assert visitor.at("/ui/signin/code")
    assert person.enrollment is not None
    opener = await page.get_attribute("#open-authenticator", "href")
    assert opener is not None and opener.endswith(f"seedId={person.enrollment.seed_id}")
    await visitor.enter_code(await person.code())
    assert visitor.at("/ui/account")


@pytest.mark.system_env(VAULT_LOCKOUT_FAILURES="3")
async def test_a_wrong_code_and_a_locked_account_read_alike(visitor, system) -> None:
    person = await _enrolled(visitor, system)
    await visitor.enter_password(person)
    await visitor.enter_code("")  # nothing entered: said at the field, and no try spent
    assert visitor.at("/ui/signin/code") and await visitor.error_of("code") == WORDS.required
    for _ in range(3):
        await visitor.enter_code(person.wrong_code())
        assert visitor.at("/ui/signin/code")
        assert await visitor.error_of("code") == WORDS.code_wrong
    await visitor.enter_code(await person.code())  # right, but the account is locked now
    assert visitor.at("/ui/signin/code")
    assert await visitor.error_of("code") == WORDS.code_wrong


@pytest.mark.system_env(GATEWAY_OPEN_RATE_PER_SECOND="0.01", GATEWAY_OPEN_BURST="2")
async def test_the_apis_rate_limit_is_the_pages_and_is_said_in_words(visitor) -> None:
    person = Person("someone@example.com", user_id="", setup_token="", password="not the password at all")
    for _ in range(3):
        await visitor.enter_password(person)
    alert = await visitor.page.text_content("[role=alert]") or ""
    assert alert.startswith("Too many tries. Try again in"), alert


async def test_a_form_posted_without_its_csrf_token_is_refused(visitor, system) -> None:
    person = await _enrolled(visitor, system)
    await visitor.sign_in(person)
    assert visitor.at("/ui/account")
    request = visitor.page.request  # the browser's cookies, but not the page's form
    for form in ({"code": await person.code()}, {"code": await person.code(), "csrf": "guessed"}):
        refused = await request.post(visitor.base_url + "/ui/account/confirm/delete", form=form)
        assert refused.status == 403
        assert WORDS.form_expired_title in await refused.text()
    refused = await request.post(visitor.base_url + "/ui/signout", form={})
    assert refused.status == 403
    await visitor.open("/ui/account")
    assert visitor.at("/ui/account")  # still signed in, the account still there


async def test_account_actions_each_ask_a_fresh_code(visitor, new_visitor, system) -> None:
    person = await _enrolled(visitor, system)
    await visitor.sign_in(person)
    page = visitor.page
    other_device = await new_visitor()
    await other_device.sign_in(person)
    assert other_device.at("/ui/account")
    await visitor.open("/ui/account")
    assert await page.locator("#session-list li").count() == 2
    # sign out the other device: a wrong code first
    await visitor.follow("#session-list li:not(:has(strong)) >> text=" + WORDS.revoke)
    await visitor.enter_code(person.wrong_code())
    assert await visitor.error_of("code") == WORDS.code_wrong
    await visitor.enter_code(await person.code())
    assert visitor.at("/ui/account")
    assert await page.locator("#session-list li").count() == 1
    await other_device.open("/ui/account")
    assert other_device.at("/ui/signin")

    # new recovery codes: shown until saved, then one of them signs in
    await visitor.follow(exact(WORDS.new_recovery_codes))
    await visitor.enter_code(await person.code())
    assert visitor.at("/ui/recovery-codes")
    codes = await visitor.save_recovery_codes()
    assert visitor.at("/ui/account")
    await visitor.follow(exact(WORDS.sign_out))
    assert visitor.at("/ui/signin")
    await page.go_back()
    assert visitor.at("/ui/signin")  # the account page is gone with the session
    await visitor.enter_password(person)
    await visitor.follow(exact(WORDS.use_recovery))
    await visitor.enter_code(codes[0], field="#recovery_code")
    assert visitor.at("/ui/account")

    # a new authenticator replaces the old one
    await visitor.follow(exact(WORDS.reenroll))
    await visitor.enter_code(await person.code())
    assert visitor.at("/ui/enroll")
    old = person.enrollment
    await visitor.start_with_an_app(person)
    await visitor.enter_code(await person.code())
    if visitor.at("/ui/recovery-codes"):
        await visitor.save_recovery_codes()
    assert visitor.at("/ui/account")
    assert old is not None and person.enrollment is not None and old.seed != person.enrollment.seed

    # deleting the account
    await visitor.follow(exact(WORDS.delete_account))
    await visitor.enter_code(await person.code())
    assert visitor.at("/ui/signin")
    await visitor.enter_password(person)
    assert await visitor.page.text_content("[role=alert]") == WORDS.signin_wrong


async def _enrolled(visitor: Visitor, system) -> Person:
    person = await visitor.sign_up()
    await visitor.enroll_with_an_app(person)
    assert visitor.at("/ui/signin")
    await system.heard_enrollment(person)
    return person


APP_CALLBACK = "https://app.example.com/2fa/done"


@pytest.mark.parametrize("provider", ["native", "legitate"])
async def test_an_app_sends_its_user_to_the_enrollment_page_and_gets_the_signed_redirect_back(visitor, system,
                                                                                             provider) -> None:
    app = system.create_app("--callback-url", APP_CALLBACK)
    started = await system.http.post("/api/v1/setup", auth=(app["clientId"], app["clientSecret"]), json={
        "account": "acct-7", "email": "seven@example.com", "callbackUrl": APP_CALLBACK, "provider": provider})
    assert started.status_code == 201, started.text
    token = started.json()["registrationToken"]
    page = visitor.page
    arrived = await visitor.app_at(APP_CALLBACK)
    # a link of another app, or another registration, leads nowhere
    await visitor.open(f"/ui/enroll/app?client_id=someone-else&registration={token}")
    assert await page.locator("h1").text_content() == WORDS.app_link_invalid
    await visitor.open(f"/ui/enroll/app?client_id={app['clientId']}&registration={token}")
    assert visitor.at("/ui/enroll") and "registration=" not in page.url
    assert "e2e app" in (await page.text_content("main") or "")
    if provider == "native":
        key = (await page.text_content("#key") or "").replace(" ", "")
        await visitor.enter_code(person_code := _code(key, system))
        assert await page.locator("h1").text_content() == WORDS.app_enrolled
        await visitor.follow("#continue")
        seed_id = None
    else:
        deep_link = await page.get_attribute("#open-authenticator", "href")
        assert deep_link is not None
        callback, enrollment = system.provider.accept(deep_link)
        # the provider sends the browser to our callback, which redirects it to the app (a redirect is not
        # routed: the app's address does not resolve here, so the navigation fails once the request left)
        async with page.expect_request(lambda request: request.url.startswith(APP_CALLBACK)) as redirected:
            with contextlib.suppress(PlaywrightError):
                await page.goto(callback)
        arrived.append((await redirected.value).url)
        visitor.page = page = await page.context.new_page()  # the first still shows the browser's error page
        seed_id, person_code = enrollment.seed_id, None
    assert len(arrived) == 1 and arrived[0].startswith(APP_CALLBACK + "?")
    params = {k: v[0] for k, v in parse_qs(urlsplit(arrived[0]).query).items()}
    assert redirect_signature.verify(app["clientSecret"], params)
    assert params["regToken"] == token and params["success"] == "true"
    if seed_id:
        assert params["seedId"] == seed_id
    assert person_code is None or person_code not in arrived[0]
    # the link has done its work: a second visit finds the setup ended
    await visitor.open(f"/ui/enroll/app?client_id={app['clientId']}&registration={token}")
    assert await page.locator("h1").text_content() == WORDS.app_link_ended


def _code(key: str, system) -> str:
    return pyotp.TOTP(key, interval=system.provider.period).now()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=lambda v: v.name)
async def test_every_page_passes_axe_core_accessibility_rules(new_visitor, system, viewport) -> None:
    """Labels, names, contrast, landmarks, focusable controls...: axe-core's rules (WCAG 2.x A and AA) on each
    page a person meets, errors shown included."""
    visitor = await new_visitor(viewport)
    axe = Axe()
    found: dict[str, list[str]] = {}

    async def check(name: str) -> None:
        results = await axe.run(visitor.page, options={"runOnly": {"type": "tag", "values": [
            "wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]}})
        violations = [f"{v['id']}: {v['help']}" for v in results.response["violations"]]
        if violations:
            found[name] = violations

    await visitor.open("/ui/signup")
    await check("sign up")
    await visitor.follow('form[action="/ui/signup"] button')
    await check("sign up, with errors")
    person = await visitor.sign_up()
    await check("enrollment, the two ways")
    await visitor.start_with_an_app(person)
    await check("enrollment, QR code")
    await visitor.enter_code(person.wrong_code())
    await check("enrollment, a wrong code")
    await visitor.enter_code(await person.code())
    await check("recovery codes")
    await visitor.save_recovery_codes()
    await check("sign in")
    await system.heard_enrollment(person)
    await visitor.enter_password(person)
    await check("code")
    await visitor.enter_code(person.wrong_code())
    await check("code, a wrong one")
    await visitor.open("/ui/signin/recovery")
    await check("recovery code")
    await visitor.open("/ui/signin/code")
    await visitor.enter_code(await person.code())
    await check("account")
    await visitor.open("/ui/account/confirm/delete")
    await check("a change that asks a code")
    # an app's authorization: the consent page of a third-party app, and a request that cannot go back to it
    app = system.create_app("--scope", "openid", "--redirect-uri", APP_CALLBACK)
    request = {"client_id": app["clientId"], "redirect_uri": APP_CALLBACK, "response_type": "code",
               "scope": "openid", "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
               "code_challenge_method": "S256"}
    await visitor.open("/oauth2/authorize?" + urlencode(request))
    assert await visitor.page.text_content("h1") == WORDS.consent_title
    await check("consent")
    await visitor.open("/oauth2/authorize?" + urlencode({**request, "redirect_uri": APP_CALLBACK + "/other"}))
    assert await visitor.page.text_content("h1") == WORDS.authorize_invalid_title
    await check("an authorization that cannot go back to the app")
    app = system.create_app("--scope", "openid", "--redirect-uri", APP_CALLBACK,
                            "--post-logout-redirect-uri", APP_CALLBACK)
    await visitor.open(f"/oauth2/logout?client_id={app['clientId']}&post_logout_redirect_uri={APP_CALLBACK}")
    await check("an app asks to sign out")
    await visitor.follow('form[action="/oauth2/logout/confirm"] button')
    await check("signed out, on to the app")
    await visitor.open("/oauth2/logout?post_logout_redirect_uri=https://evil.example/")
    await check("a sign-out request refused")
    assert not found, found
