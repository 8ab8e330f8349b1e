"""Sign in: the password, then a code from the authenticator (or a recovery code).  A wrong code, a
replayed one and a locked account get the same words, as they get the same answer from the API.  A sign-in
for an app's authorization goes back to it (pages/authorize.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import Response

from ..page import Page, PageDep, Redirect
from ..visit import Challenge, Enrollment
from ..words import WORDS
from .authorize import after_sign_in

router = APIRouter()
STEP = "/ui/signin"
NOTICES = {"registered": WORDS.notice_registered, "enrolled": WORDS.notice_enrolled, "ended": WORDS.notice_ended,
           "deleted": WORDS.notice_deleted, "signed_out": WORDS.notice_signed_out,
           "enroll_ended": WORDS.notice_enroll_ended, "challenge_ended": WORDS.notice_challenge_ended}


@router.get(STEP)
async def signin_form(page: PageDep, email: str = "") -> Response:
    page.at(STEP)
    if page.visit.session and page.visit.authorization is None:  # an app may ask a signed-in person again
        return page.redirect("/ui/account")
    notice = next((text for key, text in NOTICES.items() if key in page.request.query_params), None)
    return page.render("signin.html", email=email[:320] or page.visit.email or "", notice=notice)


@router.post(STEP)
async def signin(page: PageDep, csrf: Annotated[str, Form()] = "", email: Annotated[str, Form()] = "",
                 password: Annotated[str, Form()] = "") -> Response:
    page.check_form(csrf)
    page.at(STEP)
    email = email.strip()[:320]
    if not email or not password:
        errors = {name: WORDS.required for name, value in (("email", email), ("password", password)) if not value}
        return page.render("signin.html", status=422, email=email, errors=errors)
    answer = await page.call("POST", "/api/auth/login", {"email": email, "password": password[:1024]})
    status = answer.field("status") if answer.ok else None
    if status == "2fa_required":
        page.new_visit(email=email, challenge=Challenge(answer.body["challengeToken"], answer.field("deepLink")))
        return page.redirect("/ui/signin/code")
    if status == "2fa_setup_required":
        page.new_visit(email=email, enrollment=Enrollment(setup_token=answer.body["setupToken"]))
        return page.redirect("/ui/enroll")
    if answer.status == 401:
        return page.render("signin.html", status=401, email=email, alert=WORDS.signin_wrong)
    return page.render("signin.html", status=answer.status, email=email, alert=WORDS.refusal(answer))


def _challenge(page: Page) -> Challenge:
    page.at(STEP)
    if page.visit.session:
        raise Redirect("/ui/account")
    if page.visit.challenge is None:
        raise Redirect(STEP)
    return page.visit.challenge


@router.get("/ui/signin/code")
async def code_form(page: PageDep) -> Response:
    return page.render("code.html", challenge=_challenge(page))


@router.get("/ui/signin/recovery")
async def recovery_form(page: PageDep) -> Response:
    return page.render("code.html", challenge=_challenge(page), recovery=True)


@router.post("/ui/signin/code")
async def second_factor(page: PageDep, csrf: Annotated[str, Form()] = "", code: Annotated[str | None, Form()] = None,
                        recovery_code: Annotated[str | None, Form()] = None) -> Response:
    """A code from the authenticator, or (from the recovery form, which has that field alone) a recovery code."""
    page.check_form(csrf)
    challenge = _challenge(page)
    recovery = recovery_code is not None
    given = ((recovery_code if recovery else code) or "").strip().replace(" ", "")
    field = "recovery_code" if recovery else "code"
    if not given:
        return page.render("code.html", status=422, challenge=challenge, recovery=recovery,
                           errors={field: WORDS.required})
    body = {"challengeToken": challenge.token, ("recoveryCode" if recovery else "code"): given}
    answer = await page.call("POST", "/api/auth/login/2fa", body)
    if answer.ok:
        page.visit.challenge = None
        page.start_session(answer.body)
        return page.redirect(after_sign_in(page.visit) or "/ui/account")
    if answer.problem == "invalid-challenge":
        page.visit.challenge = None
        return page.redirect("/ui/signin?challenge_ended=1")
    if answer.status in (401, 422):
        return page.render("code.html", status=answer.status, challenge=challenge, recovery=recovery,
                           errors={field: WORDS.code_wrong})
    return page.render("code.html", status=answer.status, challenge=challenge, recovery=recovery,
                       alert=WORDS.refusal(answer))
