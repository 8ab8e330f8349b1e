"""Enrollment, which cannot be skipped: the provider's app by its deep link, or any authenticator app by a
QR code (with the key spelled out) and a first code.  The visit keeps the step, so leaving and coming back
lands on it again; the API ends it (a setup token expires, an account is enrolled once)."""

from __future__ import annotations

import io
from typing import Annotated
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


@router.get(STEP)
async def enroll_page(page: PageDep) -> Response:
    """The step as far as it went; back from the provider's app (its last page links here), the step ends
    when the callback completed the registration."""
    enrollment = _enrollment(page)
    if enrollment.provider == "legitate" and enrollment.registration_token is not None:
        answer = await _registration(page, enrollment)
        if answer.field("status") == "completed":
            return _finished(page, None)
    return _render(page, enrollment)


@router.post("/ui/enroll/start")
async def start(page: PageDep, csrf: Annotated[str, Form()] = "", provider: Annotated[str, Form()] = "") -> Response:
    page.check_form(csrf)
    enrollment = _enrollment(page)
    if provider not in ("native", "legitate"):
        return _render(page, enrollment, status=422, alert=WORDS.enroll_choose)
    answer = await page.call("POST", "/api/auth/setup-2fa", {"provider": provider}, bearer=enrollment.setup_token)
    if answer.status == 201:
        enrollment.registration_token = answer.body["registrationToken"]
        enrollment.provider = provider
        enrollment.otpauth_uri = answer.body.get("otpauthUri")
        enrollment.deep_link = answer.body.get("deepLink")
        return page.redirect(STEP)
    return _ended_or(page, enrollment, answer.status, WORDS.refusal(answer))


@router.post("/ui/enroll/confirm")
async def confirm(page: PageDep, csrf: Annotated[str, Form()] = "", code: Annotated[str, Form()] = "") -> Response:
    """A native enrollment's first code; the account's first one comes with its recovery codes."""
    page.check_form(csrf)
    enrollment = _enrollment(page)
    code = code.strip().replace(" ", "")
    if enrollment.registration_token is None or enrollment.provider != "native":
        return page.redirect(STEP)
    if not (code.isdigit() and len(code) in (6, 8)):
        return _render(page, enrollment, status=422, errors={"code": WORDS.code_format})
    answer = await page.call("POST", "/api/auth/setup-2fa/confirm",
                             {"registrationToken": enrollment.registration_token, "code": code})
    if answer.ok:
        return _finished(page, answer.field("recoveryCodes"))
    if answer.status == 400:
        return _render(page, enrollment, status=422, errors={"code": WORDS.code_wrong_new})
    if answer.status == 429:
        return _render(page, enrollment, status=429, alert=WORDS.too_many(answer.retry_after))
    if answer.status == 410:  # the registration expired: start one again, under the same setup token
        enrollment.registration_token = enrollment.provider = enrollment.otpauth_uri = None
        return _render(page, enrollment, status=410, alert=WORDS.enroll_expired)
    return _ended_or(page, enrollment, answer.status, WORDS.refusal(answer))


@router.post("/ui/enroll/check")
async def check(page: PageDep, csrf: Annotated[str, Form()] = "") -> Response:
    """Back from the provider's app: the registration's state says whether the callback completed it."""
    page.check_form(csrf)
    enrollment = _enrollment(page)
    if enrollment.registration_token is None:
        return page.redirect(STEP)
    answer = await _registration(page, enrollment)
    status = answer.field("status") if answer.ok else None
    if status == "completed":
        # the provider's flow showed the recovery codes on the page it returned to
        return _finished(page, None)
    if status == "pending":
        return _render(page, enrollment, status=409, alert=WORDS.enroll_pending)
    if status in ("rejected", "expired"):
        enrollment.registration_token = enrollment.provider = enrollment.deep_link = None
        return _render(page, enrollment, status=409,
                       alert=WORDS.enroll_rejected if status == "rejected" else WORDS.enroll_expired)
    return _ended_or(page, enrollment, answer.status, WORDS.refusal(answer))


@router.post("/ui/enroll/restart")
async def restart(page: PageDep, csrf: Annotated[str, Form()] = "") -> Response:
    page.check_form(csrf)
    enrollment = _enrollment(page)
    enrollment.registration_token = enrollment.provider = enrollment.otpauth_uri = enrollment.deep_link = None
    return page.redirect(STEP)


async def _registration(page: Page, enrollment: Enrollment) -> Answer:
    return await page.call("GET", f"/api/auth/registrations/{enrollment.registration_token}",
                           bearer=enrollment.setup_token)


def _finished(page: Page, recovery_codes: list[str] | None) -> Response:
    page.visit.enrollment = None
    if recovery_codes:
        page.visit.recovery_codes = recovery_codes
        return page.redirect("/ui/recovery-codes")
    return page.redirect("/ui/account?enrolled=1" if page.visit.session else "/ui/signin?enrolled=1")


def _ended_or(page: Page, enrollment: Enrollment, status: int, alert: str) -> Response:
    """The setup token no longer allows an enrollment (expired, or the account has its authenticator): the
    person signs in, which says what comes next; any other refusal is shown on the step."""
    if status in (401, 403, 409):
        page.visit.enrollment = None
        return page.redirect("/ui/signin?enroll_ended=1")
    return _render(page, enrollment, status=status if 400 <= status < 600 else 502, alert=alert)


def _render(page: Page, enrollment: Enrollment, *, status: int = 200, **context: object) -> Response:
    qr = key = None
    if enrollment.otpauth_uri:
        out = io.BytesIO()
        segno.make(enrollment.otpauth_uri, error="m").save(out, kind="svg", xmldecl=False, svgns=True, scale=5,
                                                           border=2, title=WORDS.enroll_qr_title)
        qr = Markup(out.getvalue().decode())  # noqa: S704 - segno's own SVG markup, not user input
        secret = parse_qs(urlsplit(enrollment.otpauth_uri).query).get("secret", [""])[0]
        key = " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))
    return page.render("enroll.html", status=status, enrollment=enrollment, qr=qr, key=key, **context)
