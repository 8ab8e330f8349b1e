"""The route table: every public path, the service that owns it, and who may call it.

A public path is the owning service's path, unchanged.  What is not in this
table is not routed, ``/internal/*`` above all: the answer is a 404 from the
gateway, and the request reaches no service.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from twofold_common.errors import NotFound, Problem


class Upstream(StrEnum):
    AUTH = "auth"
    REGISTRATION = "registration"
    VAULT = "vault"  # apps' code checks only: its other endpoints are internal
    WEB = "web"  # pages for people: no API of its own, it calls this one

    @property
    def has_api(self) -> bool:
        return self is not Upstream.WEB


class Policy(StrEnum):
    OPEN = "open"  # no credentials
    SESSION = "session"  # an access token of a session that is not revoked
    ENROLLMENT = "enrollment"  # a setup token, an access token, or an app's API key
    ADMIN = "admin"  # an operator client's HTTP Basic credentials, which auth checks itself
    APP = "app"  # a third-party app's API key (HTTP Basic client_id:client_secret)
    PAGE = "page"  # a page: the person's visit cookie goes along, which the web service alone reads


_PARAMETER = re.compile(r"\{([a-z_]+)(:path)?\}")


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # a template: /api/auth/sessions/{session_id}; {name:path} matches the rest, slashes too
    upstream: Upstream
    policy: Policy
    scope: str | None = None  # what an app's API key needs here
    rate_limited: bool = False  # per-ip limit, for routes anyone may call
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        template = re.escape(self.path).replace(r"\{", "{").replace(r"\}", "}")
        regex = _PARAMETER.sub(lambda m: f"(?P<{m[1]}>{'.+' if m[2] else '[^/]+'})", template)
        object.__setattr__(self, "pattern", re.compile(regex))

    def matches(self, path: str) -> bool:
        found = self.pattern.fullmatch(path)
        # "." and ".." would be folded away by a URL parser on the way, landing on another path.
        return found is not None and not any(segment in (".", "..")
                                             for value in found.groupdict().values() for segment in value.split("/"))


class MethodNotAllowed(Problem):
    status, code, title = 405, "method-not-allowed", "Method not allowed"


class RouteTable:
    def __init__(self, routes: list[Route]) -> None:
        self.routes = routes

    def find(self, method: str, path: str) -> Route:
        allowed = [route for route in self.routes if route.matches(path)]
        for route in allowed:
            if route.method == method:
                return route
        if allowed:
            methods = ", ".join(sorted({route.method for route in allowed}))
            raise MethodNotAllowed(f"{path} answers {methods}.", headers={"Allow": methods})
        raise NotFound("No such endpoint.", code="not-found")

    def of(self, upstream: Upstream) -> list[Route]:
        return [route for route in self.routes if route.upstream is upstream]


AUTH, REGISTRATION, VAULT, WEB = Upstream.AUTH, Upstream.REGISTRATION, Upstream.VAULT, Upstream.WEB
OPEN, SESSION, ENROLLMENT, ADMIN, APP, PAGE = (Policy.OPEN, Policy.SESSION, Policy.ENROLLMENT, Policy.ADMIN, Policy.APP,
                                               Policy.PAGE)

ROUTES = RouteTable([
    # auth: the two-step login, the seed-compatible login, refresh
    Route("POST", "/api/auth/register", AUTH, OPEN, rate_limited=True),
    Route("POST", "/api/auth/login", AUTH, OPEN, rate_limited=True),
    Route("POST", "/api/auth/login/2fa", AUTH, OPEN, rate_limited=True),
    Route("POST", "/api/auth/verify-2fa-internal", AUTH, OPEN, rate_limited=True),
    Route("POST", "/api/auth/signin-with-2fa", AUTH, OPEN, rate_limited=True),
    Route("POST", "/api/auth/token/refresh", AUTH, OPEN, rate_limited=True),
    # read by every verifier of our tokens, often: cheap and not limited
    Route("GET", "/.well-known/jwks.json", AUTH, OPEN),
    # auth: what a signed-in person does
    Route("POST", "/api/auth/verify-2fa", AUTH, SESSION),
    Route("POST", "/api/auth/logout", AUTH, SESSION),
    Route("GET", "/api/auth/sessions", AUTH, SESSION),
    Route("DELETE", "/api/auth/sessions", AUTH, SESSION),
    Route("DELETE", "/api/auth/sessions/{session_id}", AUTH, SESSION),
    Route("GET", "/api/auth/2fa/status", AUTH, SESSION),
    Route("POST", "/api/auth/2fa/recovery-codes", AUTH, SESSION),
    Route("POST", "/api/auth/2fa/re-enroll", AUTH, SESSION),
    Route("POST", "/api/auth/account/delete", AUTH, SESSION),
    Route("GET", "/api/auth/audit", AUTH, SESSION),
    # auth as the OpenID Provider of apps. Discovery is read by every app, often: open and not limited. The token
    # endpoint authenticates the app itself (client_secret_basic or client_secret_post), and userinfo checks its
    # own access tokens, whose audience is userinfo and not this API: both are open here, the token endpoint
    # limited per address.
    Route("GET", "/.well-known/openid-configuration", AUTH, OPEN),
    Route("POST", "/oauth2/token", AUTH, OPEN, rate_limited=True),
    Route("GET", "/oauth2/userinfo", AUTH, OPEN),
    Route("POST", "/oauth2/userinfo", AUTH, OPEN),
    # the pages authorize an app for the signed-in person, and check a request before anyone signed in
    Route("POST", "/api/auth/oidc/authorize", AUTH, SESSION),
    Route("POST", "/api/auth/oidc/check", AUTH, OPEN, rate_limited=True),
    # the pages check an app's logout request, for a person signed in or not (auth reads a token if one comes)
    Route("POST", "/api/auth/oidc/logout", AUTH, OPEN, rate_limited=True),
    # auth: operators
    Route("GET", "/api/admin/audit", AUTH, ADMIN),
    Route("GET", "/api/admin/adoption", AUTH, ADMIN),
    Route("POST", "/api/admin/users/find", AUTH, ADMIN),
    Route("POST", "/api/admin/users/{user_id}/unlock", AUTH, ADMIN),
    Route("POST", "/api/admin/users/{user_id}/reset-2fa", AUTH, ADMIN),
    Route("POST", "/api/admin/users/{user_id}/revoke-sessions", AUTH, ADMIN),
    Route("GET", "/api/admin/clients", AUTH, ADMIN),
    Route("POST", "/api/admin/clients/{client_id}/disable", AUTH, ADMIN),
    Route("POST", "/api/admin/clients/{client_id}/enable", AUTH, ADMIN),
    Route("POST", "/api/admin/clients/{client_id}/rotate-secret", AUTH, ADMIN),
    # vault: third-party apps check their users' codes where the seeds, the attempt limit and the lock are
    Route("POST", "/api/v1/verify", VAULT, APP, scope="verify"),
    # registration: enrollment, by a person or for an app's user
    Route("POST", "/api/auth/setup-2fa", REGISTRATION, ENROLLMENT, scope="setup"),
    Route("GET", "/api/auth/registrations/{registration_token}", REGISTRATION, ENROLLMENT, scope="status"),
    Route("POST", "/api/auth/setup-2fa/confirm", REGISTRATION, OPEN, rate_limited=True),
    # a registration token's holder (the pages) resumes its setup: the way on, or its state
    Route("POST", "/api/auth/setup-2fa/resume", REGISTRATION, OPEN, rate_limited=True),
    # the provider's redirect of the person's browser (its query carries a seed: never logged)
    Route("GET", "/api/auth/totp-callback", REGISTRATION, OPEN, rate_limited=True),
    Route("POST", "/api/v1/setup", REGISTRATION, APP, scope="setup"),
    Route("GET", "/api/v1/registrations/{registration_token}", REGISTRATION, APP, scope="status"),
    # seed mode (opt-in per app, checked by registration): the new seed once
    Route("POST", "/api/v1/registrations/{registration_token}/seed", REGISTRATION, APP, scope="setup"),
    # web: pages for people (a form's action is an API call, limited as the API is, for the person's address)
    Route("GET", "/", WEB, PAGE),
    Route("GET", "/ui/{page:path}", WEB, PAGE),
    Route("POST", "/ui/{page:path}", WEB, PAGE),
    # the authorization endpoint apps send people to (OpenID Connect): the sign-in and consent pages
    Route("GET", "/oauth2/authorize", WEB, PAGE),
    # RP-initiated logout, the discovery document's end_session_endpoint: a page, since it acts on the person's
    # visit (an app may send the request by GET or POST; the person confirms with the page's own form)
    Route("GET", "/oauth2/logout", WEB, PAGE),
    Route("POST", "/oauth2/logout", WEB, PAGE),
    Route("POST", "/oauth2/logout/confirm", WEB, PAGE),
])
