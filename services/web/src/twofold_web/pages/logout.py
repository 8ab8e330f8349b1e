"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): an app sends the person's browser here to be
signed out of twofold, and back.

Auth checks the app's parameters (``POST /api/auth/oidc/logout``); a request it refuses is shown, never followed
to the app. The person confirms with a form (a link alone must sign no one out) and is signed out as by the
account's button, which ends the apps' sessions of that sign-in too: each app that registered a back-channel
logout URI hears of it. A person not signed in has nothing to confirm and goes straight on.

The way back to the app is a link, not a redirect: the pages let forms post only here (``form-action 'self'``),
and Chromium holds every redirect that follows a form's post to that too, through a redirect of ours as well.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from ..api import Answer
from ..page import Page, PageDep
from ..words import WORDS

router = APIRouter()
PATH = "/oauth2/logout"
PARAMETERS = ("id_token_hint", "client_id", "post_logout_redirect_uri", "state")


@router.get(PATH)
async def logout_request(page: PageDep) -> Response:
    """Open from every step, as signing out is."""
    query = page.request.query_params
    asked = {name: values[0] if len(values) == 1 else values
             for name in PARAMETERS if (values := query.getlist(name))}  # a repeated one is auth's to refuse
    answer = await page.call("POST", "/api/auth/oidc/logout", asked)
    if not answer.ok:
        return _refused(page, answer)
    if page.visit.session is None:
        return _signed_out(page, answer)
    return page.render("logout.html", app=answer.field("clientName"), asked=asked)


@router.post(PATH)
async def logout_request_posted(request: Request) -> Response:
    """RP-Initiated Logout 2: an app may post its request as a form. It becomes the same request by GET, and
    the visit is left alone: a post from another site comes without the visit's cookie (``SameSite=Lax``), and
    answering it with a new one would end the visit unasked."""
    form = await request.form()
    asked = [(name, value) for name, value in form.multi_items() if name in PARAMETERS and isinstance(value, str)]
    return RedirectResponse(f"{PATH}?{urlencode(asked)}", status_code=303)


@router.post(PATH + "/confirm")
async def confirm(page: PageDep, csrf: Annotated[str, Form()] = "",
                  id_token_hint: Annotated[str | None, Form()] = None, client_id: Annotated[str | None, Form()] = None,
                  post_logout_redirect_uri: Annotated[str | None, Form()] = None,
                  state: Annotated[str | None, Form()] = None) -> Response:
    page.check_form(csrf)
    asked = {"id_token_hint": id_token_hint, "client_id": client_id,
             "post_logout_redirect_uri": post_logout_redirect_uri, "state": state}
    # checked again (the form's fields came back from the browser), as the person's now: auth audits it
    session = page.visit.session
    answer = await page.call("POST", "/api/auth/oidc/logout",
                             {name: value for name, value in asked.items() if value is not None},
                             bearer=session.access_token if session else None)
    if not answer.ok:
        return _refused(page, answer)
    await page.sign_out()
    return _signed_out(page, answer)


def _refused(page: Page, answer: Answer) -> Response:
    invalid = answer.status in (400, 422)  # what the app sent, not a moment's trouble
    return page.render("message.html", status=answer.status, title=WORDS.logout_refused_title,
                       alert=WORDS.logout_refused if invalid else WORDS.refusal(answer))


def _signed_out(page: Page, answer: Answer) -> Response:
    back = answer.field("redirectTo")
    if back is None:
        return page.redirect("/ui/signin?signed_out=1")
    return page.render("message.html", title=WORDS.signed_out_title,
                       link=(back, WORDS.app_continue.format(app=answer.field("clientName"))))
