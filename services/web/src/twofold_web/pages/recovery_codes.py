"""Recovery codes, right after they are made: shown (and downloadable) until the person says they saved them;
no other page opens before."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import PlainTextResponse, Response

from ..page import Page, PageDep, Redirect
from ..words import WORDS

router = APIRouter()
STEP = "/ui/recovery-codes"


def _codes(page: Page) -> list[str]:
    page.at(STEP)
    if not page.visit.recovery_codes:
        raise Redirect("/ui/account")
    return page.visit.recovery_codes


@router.get(STEP)
async def show(page: PageDep) -> Response:
    return page.render("recovery_codes.html", codes=_codes(page))


@router.get("/ui/recovery-codes.txt")
async def download(page: PageDep) -> Response:
    text = WORDS.recovery_file_header + "\n\n" + "\n".join(_codes(page)) + "\n"
    return page.sealed(PlainTextResponse(text, headers={
        "Content-Disposition": 'attachment; filename="twofold-recovery-codes.txt"'}))


@router.post("/ui/recovery-codes/saved")
async def saved(page: PageDep, csrf: Annotated[str, Form()] = "", saved: Annotated[str, Form()] = "") -> Response:
    page.check_form(csrf)
    codes = _codes(page)
    if saved != "yes":
        return page.render("recovery_codes.html", status=422, codes=codes, errors={"saved": WORDS.recovery_confirm})
    page.visit.recovery_codes = None
    return page.redirect("/ui/account" if page.visit.session else "/ui/signin?enrolled=1")
