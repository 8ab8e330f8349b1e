"""The authorization endpoint apps send people to (OpenID Connect's ``/oauth2/authorize``), and consent.

The protocol is auth's, not the pages': its authorize API decides (``/api/auth/oidc/authorize`` for the
signed-in person, ``/api/auth/oidc/check`` before anyone signed in), and the pages act on the answer:

- ``redirect``: the browser goes to the app, with a code or with an error for the app;
- ``login``: the person signs in with both factors (anew, for ``prompt=login`` or an old sign-in under
  ``max_age``), or signs up and enrolls first; the code page then sends the browser here again, and the new
  sign-in answers ``prompt=login`` and ``max_age`` for this request alone (the API is asked without them);
- ``consent``: the consent page; the person's answer goes to the API, which remembers a grant.

A request auth will not answer through the app (an unknown client, a redirect URI it did not register, a
malformed one) is a page in words, and the browser stays here. The request waits in the visit while the
person signs in, up, and consents.

The pages' policy says ``form-action 'self'``, and Chromium applies it to the redirects that follow a form's
POST as well: the code form's 303 to this page and this page's 303 to the app are one navigation, checked
against the code page's policy, so passing through a GET of ours does not get the person to the app (tried:
Chromium blocks it). Of the two ways out, the pages take the other one: while a request waits in the visit,
its pages also allow its redirect URI's origin in ``form-action`` (``page.policy``), an origin auth has
checked the app registered. The code form then posts, and its redirects lead, to our page and on to the app.
"""

from __future__ import annotations

import hmac
import re
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import APIRouter, Form
from fastapi.responses import Response

from ..api import Answer
from ..page import Page, PageDep, Redirect
from ..visit import Authorization, Visit
from ..words import WORDS

router = APIRouter()
STEP = "/oauth2/authorize"
# The request is kept in the visit cookie, which browsers keep to 4 KB (tests/test_visit.py checks that the
# largest visit fits); an app's request is a few hundred characters.
MAX_QUERY = 1024
PROBLEMS = {"unknown-client": WORDS.authorize_unknown_client, "invalid-redirect-uri": WORDS.authorize_bad_redirect}
# An origin as a CSP source: nothing of a registered URI beyond its scheme, host and port reaches the policy.
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.\-]+(:[0-9]+)?|https?://\[[0-9A-Fa-f:.]+\](:[0-9]+)?")


@router.get(STEP)
async def authorize(page: PageDep) -> Response:
    query = page.request.url.query
    if len(query) > MAX_QUERY:
        return _refused(page, WORDS.authorize_bad_request)
    pending = page.visit.authorization
    fresh = pending is not None and pending.fresh and pending.query == query
    answer = await _ask(page, query, fresh=fresh)
    return _act(page, query, answer, fresh=fresh)


@router.post("/ui/consent")
async def consent(page: PageDep, csrf: Annotated[str, Form()] = "", request: Annotated[str, Form()] = "",
                  decision: Annotated[str, Form()] = "") -> Response:
    """The person's answer, for the request the page showed them (another one since started in this visit, in
    another tab, is not answered by it)."""
    page.check_form(csrf)
    pending = page.visit.authorization
    if pending is None or not hmac.compare_digest(pending.digest, request) or decision not in ("allow", "deny"):
        return page.render("message.html", status=409, title=WORDS.consent_ended)
    answer = await _ask(page, pending.query, fresh=pending.fresh,
                        consent="granted" if decision == "allow" else "denied")
    return _act(page, pending.query, answer, fresh=pending.fresh)


def after_sign_in(visit: Visit) -> str | None:
    """Where a sign-in goes on: back to the app's authorization under way, which this sign-in answers."""
    if visit.authorization is None:
        return None
    visit.authorization.fresh = True
    return f"{STEP}?{visit.authorization.query}"


async def _ask(page: Page, query: str, *, fresh: bool, consent: str | None = None) -> Answer:
    """Auth's answer for the signed-in person, or, with no one signed in (or a session that ended), its check."""
    if page.visit.session is not None:
        try:
            return await page.signed_in("POST", "/api/auth/oidc/authorize", parameters(query, fresh, consent))
        except Redirect:
            if page.visit.session is not None:
                raise
    return await page.call("POST", "/api/auth/oidc/check", parameters(query, fresh))


def parameters(query: str, fresh: bool, consent: str | None = None) -> dict[str, Any]:
    """The request as the API takes it: each parameter as sent, a repeated one as a list (which auth refuses),
    one without a value left out (RFC 6749 3.1); after a fresh sign-in for this request, without what that
    sign-in answered. ``consent`` is the person's answer alone, never a parameter of the app's."""
    sent: dict[str, list[str]] = {}
    for name, value in parse_qsl(query):
        sent.setdefault(name, []).append(value)
    params: dict[str, Any] = {name: values[0] if len(values) == 1 else values for name, values in sent.items()}
    if fresh:
        params.pop("max_age", None)
        if isinstance(prompt := params.get("prompt"), str):
            params["prompt"] = " ".join(value for value in prompt.split() if value != "login") or None
    return {**params, "consent": consent}


def _act(page: Page, query: str, answer: Answer, *, fresh: bool) -> Response:
    if not answer.ok:
        page.visit.authorization = None
        if answer.status == 400:
            return _refused(page, PROBLEMS.get(answer.problem, WORDS.authorize_bad_request))
        return page.render("message.html", status=answer.status if answer.status >= 400 else 502,
                           title=WORDS.authorize_title, alert=WORDS.refusal(answer))
    action = answer.field("action")
    if action == "redirect":
        page.visit.authorization = None
        return page.redirect(answer.body["redirectTo"])
    params = parameters(query, fresh)
    origin = _origin(params["redirect_uri"])  # auth answered neither a problem nor a redirect: it is registered
    page.visit.authorization = pending = Authorization(query, origin, answer.field("clientName") or "",
                                                       fresh=fresh and action != "login")
    if action == "login":
        hint = params.get("login_hint")
        return page.redirect("/ui/signin" + (f"?{urlencode({'email': hint})}" if isinstance(hint, str) else ""))
    page.at(STEP)  # a step the visit must finish first (recovery codes just made) comes before consent
    return page.render("consent.html", app=pending.client_name, scopes=answer.field("scopes") or [],
                       digest=pending.digest)


def _origin(redirect_uri: str) -> str:
    parts = urlsplit(redirect_uri)
    origin = f"{parts.scheme}://{parts.netloc}"
    return origin if _ORIGIN.fullmatch(origin) else "'self'"


def _refused(page: Page, alert: str) -> Response:
    return page.render("message.html", status=400, title=WORDS.authorize_invalid_title, alert=alert)
