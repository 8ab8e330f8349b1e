"""What every page handler is given: the person's visit, the API on their behalf, and the ways to answer.

Each answer seals the visit into the cookie again.  A handler first says which step it belongs to
(``at``): a visit with an unfinished step (the recovery codes just made, an enrollment under way) is sent
there from any other page, which is what makes enrollment impossible to skip by typing another URL.
"""

from __future__ import annotations

import contextlib
import hmac
import time
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from twofold_common.errors import Forbidden
from twofold_common.internal_auth import INTERNAL_AUTH_HEADER
from twofold_common.runtime import RuntimeDep

from .api import Answer, Person, PublicApi
from .visit import Session, Visit, VisitCookie
from .words import WORDS

# Refreshed this long before the access token expires: a page's calls never carry one about to lapse.
REFRESH_MARGIN_SECONDS = 30
# The API's answer to a wrong (or replayed, or locked out) code: a 401 that does not end the session.
WRONG_CODE = "invalid-code"
# No script at all (the pages need none), our stylesheet alone, no frame holds a page, forms post only here
# (and, during an app's authorization, lead to that app: ``policy``).
POLICY = ("default-src 'none'; script-src 'none'; style-src 'self'; img-src 'self'; form-action {forms}; "
          "frame-ancestors 'none'; base-uri 'none'")


def policy(visit: Visit) -> str:
    """The pages' Content-Security-Policy for this visit.

    Chromium applies ``form-action`` to every redirect that follows a form's POST, not to the POST alone: the
    code form's 303 to ``/oauth2/authorize`` and that page's 303 to the app are one navigation, checked
    against the policy of the page that held the form (a ``'self'`` GET in between does not help; tried).
    So while an app's authorization is under way, the visit's pages allow forms to lead to that app's
    origin as well, which auth has checked is the origin of a redirect URI the app registered.
    """
    forms = "'self'"
    if visit.authorization is not None:
        forms += " " + visit.authorization.redirect_origin
    return POLICY.format(forms=forms)


class Redirect(Exception):
    """Ends a handler with a redirect to ``url`` (the visit is sealed on the way out)."""

    def __init__(self, url: str) -> None:
        self.url = url


class FormExpired(Exception):
    """A form post without this visit's CSRF token: a stolen post, or a page left open past the visit."""


@dataclass
class Page:
    request: Request
    visit: Visit
    person: Person
    api: PublicApi
    cookie: VisitCookie
    templates: Jinja2Templates

    def at(self, step: str) -> None:
        """This handler belongs to ``step``; a visit that must finish another step goes there."""
        required = self.visit.required_page()
        if required is not None and required != step:
            raise Redirect(required)

    def check_form(self, token: str) -> None:
        if not hmac.compare_digest(token.encode(), self.visit.csrf.encode()):
            raise FormExpired()

    def render(self, template: str, *, status: int = 200, **context: Any) -> Response:
        response = self.templates.TemplateResponse(
            self.request, template, {"w": WORDS, "csrf": self.visit.csrf, "visit": self.visit, **context},
            status_code=status)
        return self.sealed(response)

    def redirect(self, url: str) -> Response:
        return self.sealed(RedirectResponse(url, status_code=303))

    def sealed(self, response: Response) -> Response:
        response.set_cookie(self.cookie.name, self.cookie.seal(self.visit), max_age=self.cookie.max_age,
                            path="/", secure=self.cookie.secure, httponly=True, samesite="lax")
        response.headers["Content-Security-Policy"] = policy(self.visit)
        return response

    def new_visit(self, **parts: Any) -> Visit:
        """A visit that starts again (whatever the earlier one held ends here: another account's session, a
        step left unfinished), except an app's authorization under way, which the person is signing in, or
        up, for."""
        self.visit = Visit(**parts, authorization=self.visit.authorization)
        return self.visit

    async def call(self, method: str, path: str, json: Any = None, *, bearer: str | None = None) -> Answer:
        return await self.api.call(method, path, self.person, json=json, bearer=bearer)

    async def signed_in(self, method: str, path: str, json: Any = None) -> Answer:
        """A call as the signed-in person, refreshing the session's tokens when they are about to lapse;
        a session that ended sends the person to sign in."""
        session = self.visit.session
        if session is None:
            raise Redirect("/ui/signin")
        if session.expires_at - REFRESH_MARGIN_SECONDS < time.time():
            session = await self._refresh(session)
        answer = await self.call(method, path, json, bearer=session.access_token)
        if answer.status == 401 and answer.problem != WRONG_CODE:  # revoked meanwhile, here or elsewhere
            self.visit.session = None
            raise Redirect("/ui/signin?ended=1")
        return answer

    async def sign_out(self) -> None:
        """End the visit's session at the API, which ends the apps' sessions of that sign-in too, then the visit
        itself. Allowed from every step: an enrollment left unfinished is asked again at sign-in."""
        if self.visit.session is not None:
            with contextlib.suppress(Redirect):  # a session that already ended has nothing left to end
                await self.signed_in("POST", "/api/auth/logout")
        self.visit = Visit()

    def start_session(self, tokens: dict[str, Any]) -> Session:
        self.visit.session = Session(access_token=tokens["accessToken"], refresh_token=tokens["refreshToken"],
                                     session_id=str(tokens["sessionId"]),
                                     expires_at=time.time() + int(tokens["expiresIn"]))
        return self.visit.session

    async def _refresh(self, session: Session) -> Session:
        answer = await self.call("POST", "/api/auth/token/refresh", {"refreshToken": session.refresh_token})
        if not answer.ok:
            self.visit.session = None
            raise Redirect("/ui/signin?ended=1")
        return self.start_session(answer.body)


async def _page(request: Request, runtime: RuntimeDep) -> Page:
    state = runtime.state
    cookie: VisitCookie = state["cookie"]
    visit = cookie.open(request.cookies.get(cookie.name))
    page = Page(request, visit, _person(request, runtime), state["api"], cookie, state["templates"])
    request.state.page = page  # for the answers to Redirect and FormExpired
    return page


def _person(request: Request, runtime: RuntimeDep) -> Person:
    """The person's address as the gateway saw it: pages are served through the gateway alone, which proves
    itself with its internal token."""
    token = request.headers.get(INTERNAL_AUTH_HEADER)
    if not token or runtime.internal_auth.verify(token) != "gateway":
        raise Forbidden("Pages are served through the gateway.", code="gateway-only")
    forwarded = request.headers.get("x-forwarded-for", "")
    return Person(ip=forwarded.rsplit(",", 1)[-1].strip() or "0.0.0.0",
                  user_agent=request.headers.get("user-agent", "")[:512])


PageDep = Annotated[Page, Depends(_page)]
