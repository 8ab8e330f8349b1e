"""Sign up: an email and a password; the account then must enroll an authenticator before anything else."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import Response

from ..page import PageDep
from ..strength import strength
from ..visit import Enrollment
from ..words import WORDS

router = APIRouter()


@router.get("/ui/signup")
async def signup_form(page: PageDep) -> Response:
    page.at("/ui/signup")
    return page.render("signup.html")


@router.post("/ui/signup")
async def signup(page: PageDep, csrf: Annotated[str, Form()] = "", email: Annotated[str, Form()] = "",
                 password: Annotated[str, Form()] = "") -> Response:
    page.check_form(csrf)
    page.at("/ui/signup")
    email = email.strip()
    errors: dict[str, str] = {}
    if "@" not in email:
        errors["email"] = WORDS.email_invalid
    verdict = strength(password, email)
    if not verdict.acceptable:
        errors["password"] = verdict.message
    if errors:
        return page.render("signup.html", status=422, email=email, errors=errors, verdict=verdict)
    answer = await page.call("POST", "/api/auth/register", {"email": email, "password": password})
    if answer.status == 201:
        page.new_visit(email=email, enrollment=Enrollment(setup_token=answer.body["setupToken"]))
        return page.redirect("/ui/enroll")
    if answer.status == 202:  # emails are concealed: known or new, signing in says what comes next
        page.new_visit(email=email)
        return page.redirect("/ui/signin?registered=1")
    if answer.status == 409:
        errors["email"] = WORDS.email_taken
    elif answer.status == 422:
        errors["email" if "email" in str(answer.field("detail")).lower() else "password"] = WORDS.signup_refused
    else:
        return page.render("signup.html", status=answer.status, email=email, alert=WORDS.refusal(answer))
    return page.render("signup.html", status=422, email=email, errors=errors)
