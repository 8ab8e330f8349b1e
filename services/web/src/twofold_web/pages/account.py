"""The account: its authenticators and sessions, and the changes that each ask a fresh code (revoke a
session, new recovery codes, a new authenticator, deleting the account)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.responses import Response

from ..page import WRONG_CODE, Page, PageDep
from ..visit import Enrollment, Visit
from ..words import WORDS

router = APIRouter()
STEP = "/ui/account"
ACTIONS = ("revoke-session", "recovery-codes", "re-enroll", "delete")
NOTICES = {"enrolled": WORDS.notice_reenrolled, "revoked": WORDS.notice_revoked}


@router.get(STEP)
async def account(page: PageDep) -> Response:
    page.at(STEP)
    status = await page.signed_in("GET", "/api/auth/2fa/status")
    sessions = await page.signed_in("GET", "/api/auth/sessions")
    if not (status.ok and sessions.ok):
        return page.render("message.html", status=502, title=WORDS.account_title,
                           alert=WORDS.refusal(status if not status.ok else sessions))
    notice = next((text for key, text in NOTICES.items() if key in page.request.query_params), None)
    return page.render("account.html", status_view=status.body, sessions=sessions.body["sessions"], notice=notice)


@router.get("/ui/account/confirm/{action}")
async def confirm_form(page: PageDep, action: str, session: str = "") -> Response:
    page.at(STEP)
    if action not in ACTIONS or page.visit.session is None:
        return page.redirect(STEP)
    return page.render("confirm.html", action=action, session=_session_id(session))


@router.post("/ui/account/confirm/{action}")
async def confirm(page: PageDep, action: str, csrf: Annotated[str, Form()] = "", code: Annotated[str, Form()] = "",
                  session: Annotated[str, Form()] = "") -> Response:
    page.check_form(csrf)
    page.at(STEP)
    if action not in ACTIONS:
        return page.redirect(STEP)
    code = code.strip().replace(" ", "")
    target = _session_id(session)
    if not (code.isdigit() and len(code) in (6, 8)):
        return page.render("confirm.html", status=422, action=action, session=target,
                           errors={"code": WORDS.code_format})
    if action == "revoke-session":
        answer = await page.signed_in("POST", "/api/auth/verify-2fa", {"code": code})
        if answer.ok and target:
            answer = await page.signed_in("DELETE", f"/api/auth/sessions/{target}")
    else:
        path = {"recovery-codes": "/api/auth/2fa/recovery-codes", "re-enroll": "/api/auth/2fa/re-enroll",
                "delete": "/api/auth/account/delete"}[action]
        answer = await page.signed_in("POST", path, {"code": code})
    if answer.ok:
        return _done(page, action, target, answer.body)
    if answer.problem == WRONG_CODE or answer.status == 422:
        return page.render("confirm.html", status=401, action=action, session=target,
                           errors={"code": WORDS.code_wrong})
    return page.render("confirm.html", status=answer.status, action=action, session=target,
                       alert=WORDS.refusal(answer))


@router.post("/ui/signout")
async def signout(page: PageDep, csrf: Annotated[str, Form()] = "") -> Response:
    page.check_form(csrf)
    await page.sign_out()
    return page.redirect("/ui/signin?signed_out=1")


def _done(page: Page, action: str, target: str | None, body: Any) -> Response:
    own = page.visit.session
    if action == "revoke-session":
        if own is not None and target == own.session_id:
            page.visit = Visit()
            return page.redirect("/ui/signin?signed_out=1")
        return page.redirect("/ui/account?revoked=1")
    if action == "recovery-codes":
        page.visit.recovery_codes = body["codes"]
        return page.redirect("/ui/recovery-codes")
    if action == "re-enroll":
        page.visit.enrollment = Enrollment(setup_token=body["setupToken"], replacing=True)
        return page.redirect("/ui/enroll")
    page.visit = Visit()  # deleted
    return page.redirect("/ui/signin?deleted=1")


def _session_id(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None
