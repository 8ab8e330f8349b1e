"""Enrollment, which cannot be skipped: the provider's app by its deep link, or any authenticator app by a
QR code (with the key spelled out) and a first code.  The visit keeps the step, so leaving and coming back
lands on it again; the API ends it (a setup token expires, an account is enrolled once).

An app sends its user here with the registration it started (``/ui/enroll/app``); the way back to the app is
the redirect the app gets from the provider's flow, signed the same way after a QR code's first code.
"""

from __future__ import annotations

import io
from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

import segno
from fastapi import APIRouter, Form
from fastapi.responses import Response
from markupsafe import Markup

from ..api import Answer
from ..page import Page, PageDep, Redirect
from ..visit import Enrollment
from ..words import WORDS

router = APIRouter()
STEP = "/ui/enroll"


def _enrollment(page: Page) -> Enrollment:
    page.at(STEP)
    if page.visit.enrollment is None:
        raise Redirect("/ui/account" if page.visit.session else "/ui/signin")
    return page.visit.enrollment


@router.get("/ui/enroll/app")
async def from_an_app(page: PageDep, client_id: str = "", registration: str = "") -> Response:
    """An app's user, sent with the registration the app started for them (``POST /api/v1/setup``)."""
    answer = await _resume(page, registration) if registration else None
    if answer is None or not answer.ok or answer.field("clientId") != client_id or not client_id:
        return page.render("message.html", status=400, title=WORDS.app_link_invalid)
    if answer.field("status") != "pending":
        return page.render("message.html", status=410, title=WORDS.app_link_ended)
    page.visit.enrollment = Enrollment(registration_token=registration, provider=answer.field("provider"),
                                       client_id=client_id, app_name=answer.field("serviceName"))
    return page.redirect(STEP)  # the registration token leaves the address bar


@router.get(STEP)
async def enroll_page(page: PageDep, waiting: str = "") -> Response:
    """The step as far as it went; back from the provider's app, the step ends when the provider's callback
    completed the registration."""
    enrollment = _enrollment(page)
    if enrollment.registration_token is None:
        return _render(page, enrollment)
    answer = await _resume(page, enrollment.registration_token)
    status = answer.field("status") if answer.ok else None
    if status == "pending":
        notice = WORDS.enroll_pending if waiting and enrollment.provider == "legitate" else None
        return _render(page, enrollment, answer.body, notice=notice)
    if status == "completed":
        return _finished(page, None)
    if status in ("rejected", "expired") or answer.status == 404:
        return _ended(page, enrollment, WORDS.enroll_rejected if status == "rejected" else WORDS.enroll_expired)
    return _render(page, enrollment, status=_failure(answer), alert=WORDS.refusal(answer))


@router.post("/ui/enroll/start")
async def start(page: PageDep, csrf: Annotated[str, Form()] = "", provider: Annotated[str, Form()] = "") -> Response:
    page.check_form(csrf)
    enrollment = _enrollment(page)
    if enrollment.setup_token is None or enrollment.registration_token is not None:
        return page.redirect(STEP)  # an app's registration, or one already started
    if provider not in ("native", "legitate"):
        return _render(page, enrollment, status=422, alert=WORDS.enroll_choose)
    answer = await page.call("POST", "/api/auth/setup-2fa", {"provider": provider}, bearer=enrollment.setup_token)
    if answer.status == 201:
        enrollment.registration_token = answer.body["registrationToken"]
        enrollment.provider = provider
        return page.redirect(STEP)
    if answer.status in (401, 403, 409):  # the setup token expired, or the account has its authenticator
        page.visit.enrollment = None
        return page.redirect("/ui/signin?enroll_ended=1")
    return _render(page, enrollment, status=_failure(answer), alert=WORDS.refusal(answer))


@router.post("/ui/enroll/confirm")
async def confirm(page: PageDep, csrf: Annotated[str, Form()] = "", code: Annotated[str, Form()] = "") -> Response:
    """A QR code's first code; the account's first one comes with its recovery codes, an app's goes back."""
    page.check_form(csrf)
    enrollment = _enrollment(page)
    code = code.strip().replace(" ", "")
    if enrollment.registration_token is None or enrollment.provider != "native":
        return page.redirect(STEP)
    if not (code.isdigit() and len(code) in (6, 8)):
        return await _again(page, enrollment, status=422, errors={"code": WORDS.code_format})
    answer = await page.call("POST", "/api/auth/setup-2fa/confirm",
                             {"registrationToken": enrollment.registration_token, "code": code})
    if answer.ok and answer.field("redirectTo"):
        page.visit.enrollment = None
        return page.render("message.html", title=WORDS.app_enrolled,
                           link=(answer.field("redirectTo"), WORDS.app_continue.format(app=enrollment.app_name)))
    if answer.ok:
        return _finished(page, answer.field("recoveryCodes"))
    if answer.status == 400:
        return await _again(page, enrollment, status=422, errors={"code": WORDS.code_wrong_new})
    if answer.status == 429:
        return await _again(page, enrollment, status=429, alert=WORDS.too_many(answer.retry_after))
    if answer.status in (404, 409, 410):  # expired, completed meanwhile, or gone
        return _ended(page, enrollment, WORDS.enroll_expired)
    return await _again(page, enrollment, status=_failure(answer), alert=WORDS.refusal(answer))


@router.post("/ui/enroll/restart")
async def restart(page: PageDep, csrf: Annotated[str, Form()] = "") -> Response:
    """Another way, for a person's own enrollment (an app chose its way)."""
    page.check_form(csrf)
    enrollment = _enrollment(page)
    if enrollment.setup_token is not None:
        enrollment.registration_token = enrollment.provider = None
    return page.redirect(STEP)


async def _resume(page: Page, registration_token: str) -> Answer:
    return await page.call("POST", "/api/auth/setup-2fa/resume", {"registrationToken": registration_token})


def _finished(page: Page, recovery_codes: list[str] | None) -> Response:
    enrollment = page.visit.enrollment
    page.visit.enrollment = None
    if enrollment is not None and enrollment.client_id is not None:  # the provider sent the person back to the app
        return page.render("message.html", title=WORDS.app_enrolled)
    if recovery_codes:
        page.visit.recovery_codes = recovery_codes
        return page.redirect("/ui/recovery-codes")
    return page.redirect("/ui/account?enrolled=1" if page.visit.session else "/ui/signin?enrolled=1")


def _ended(page: Page, enrollment: Enrollment, alert: str) -> Response:
    """The registration ended without an authenticator: a person starts another (same setup token), an app's
    user goes back to the app, which starts one."""
    if enrollment.setup_token is None:
        page.visit.enrollment = None
        return page.render("message.html", status=410, title=WORDS.app_link_ended)
    enrollment.registration_token = enrollment.provider = None
    return _render(page, enrollment, status=409, alert=alert)


async def _again(page: Page, enrollment: Enrollment, *, status: int, **context: Any) -> Response:
    """The step again after a refused code: the QR code with it."""
    assert enrollment.registration_token is not None
    answer = await _resume(page, enrollment.registration_token)
    return _render(page, enrollment, answer.body if answer.ok else None, status=status, **context)


def _failure(answer: Answer) -> int:
    return answer.status if 400 <= answer.status < 600 else 502


def _render(page: Page, enrollment: Enrollment, way: dict[str, Any] | None = None, *, status: int = 200,
            **context: Any) -> Response:
    qr = key = None
    uri = (way or {}).get("otpauthUri")
    if uri:
        out = io.BytesIO()
        segno.make(uri, error="m").save(out, kind="svg", xmldecl=False, svgns=True, scale=5, border=2,
                                        title=WORDS.enroll_qr_title)
        qr = Markup(out.getvalue().decode())  # noqa: S704 - segno's own SVG markup
        secret = parse_qs(urlsplit(uri).query).get("secret", [""])[0]
        key = " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))
    return page.render("enroll.html", status=status, enrollment=enrollment, qr=qr, key=key,
                       deep_link=(way or {}).get("deepLink"), **context)
