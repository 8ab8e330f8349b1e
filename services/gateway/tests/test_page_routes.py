"""The pages' routes on their own: which paths reach the web service, which do not, and the headers that go
with them (the person's cookie to the pages alone)."""

from __future__ import annotations

import pytest

from twofold_common.errors import NotFound
from twofold_gateway.proxy import request_headers
from twofold_gateway.routes import ROUTES, MethodNotAllowed, Policy, Upstream


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/"),
    ("GET", "/ui/signin"),
    ("POST", "/ui/signin"),
    ("GET", "/ui/signin/code"),
    ("GET", "/ui/account/confirm/delete"),
    ("POST", "/ui/account/confirm/delete"),
    ("GET", "/ui/static/site.css"),
    ("GET", "/ui/recovery-codes.txt"),
    ("GET", "/ui/..a/b..c/.x"),  # dots inside a segment are a name, not a step up
    ("GET", "/oauth2/authorize"),  # OpenID Connect's authorization endpoint is the pages' sign-in
    ("GET", "/oauth2/logout"),  # RP-initiated logout acts on the person's visit
    ("POST", "/oauth2/logout"),
    ("POST", "/oauth2/logout/confirm"),
])
def test_pages_go_to_the_web_service_as_pages(method: str, path: str) -> None:
    route = ROUTES.find(method, path)
    assert (route.upstream, route.policy) == (Upstream.WEB, Policy.PAGE)
    assert route.rate_limited is False  # a page calls the API, which is limited per person, for each action


def test_only_page_routes_go_to_the_web_service_and_it_has_no_api() -> None:
    assert {route.policy for route in ROUTES.of(Upstream.WEB)} == {Policy.PAGE}
    assert {route.upstream for route in ROUTES.routes if route.policy is Policy.PAGE} == {Upstream.WEB}
    assert Upstream.WEB.has_api is False and Upstream.AUTH.has_api and Upstream.REGISTRATION.has_api
    # the API's paths stay the API's: no page route swallows them
    assert ROUTES.find("GET", "/api/auth/sessions").upstream is Upstream.AUTH
    assert ROUTES.find("GET", "/.well-known/jwks.json").upstream is Upstream.AUTH
    assert ROUTES.find("POST", "/oauth2/token").upstream is Upstream.AUTH


@pytest.mark.parametrize("path", [
    "/ui/../api/admin/audit",  # a URL parser on the way would fold it into /api/admin/audit
    "/ui/..",
    "/ui/a/..",
    "/ui/a/../../api/auth/sessions",
    "/ui/a/./b",
    "/ui/./signin",
    "/ui/.",
    "/ui/signin/.",
])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_dot_segments_under_the_pages_are_not_found(method: str, path: str) -> None:
    with pytest.raises(NotFound) as refused:
        ROUTES.find(method, path)
    assert refused.value.status == 404


@pytest.mark.parametrize("path", ["/uix", "/uix/signin", "/ui", "/ui/", "/UI/signin", "//ui/signin", "/x/ui/signin"])
def test_paths_that_only_look_like_pages_are_not_found(path: str) -> None:
    """``/ui/`` names no page (``{page:path}`` needs one character), and ``/uix`` is not under ``/ui/``."""
    for method in ("GET", "POST"):
        with pytest.raises(NotFound):
            ROUTES.find(method, path)


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("PUT", "/ui/x", "GET, POST"),
    ("DELETE", "/ui/account", "GET, POST"),
    ("PATCH", "/ui/static/site.css", "GET, POST"),
    ("POST", "/", "GET"),
    ("DELETE", "/", "GET"),
])
def test_another_method_on_a_page_is_405_with_allow(method: str, path: str, allowed: str) -> None:
    with pytest.raises(MethodNotAllowed) as refused:
        ROUTES.find(method, path)
    assert refused.value.status == 405 and refused.value.headers == {"Allow": allowed}


def test_a_dot_segment_is_refused_whatever_the_method() -> None:
    """Not a 405 that would confirm the path exists: the path is not one."""
    with pytest.raises(NotFound):
        ROUTES.find("PUT", "/ui/../api/admin/audit")


INCOMING = [
    (b"cookie", b"__Host-twofold=sealed-visit"), (b"Cookie", b"second=1"), (b"content-type", b"text/plain"),
    (b"user-agent", b"Firefox"), (b"accept-language", b"en"), (b"authorization", b"Bearer t"),
    (b"x-internal-auth", b"caller-made-this"), (b"X-Internal-Auth", b"again"), (b"x-forwarded-for", b"6.6.6.6"),
    (b"X-Forwarded-For", b"7.7.7.7"), (b"x-twofold-client-id", b"cl_x"), (b"x-real-ip", b"8.8.8.8"),
    (b"forwarded", b"for=9.9.9.9"), (b"host", b"gateway.example"),
]
ADDED = {"X-Forwarded-For": "203.0.113.9", "X-Internal-Auth": "the-gateways-own"}


def test_cookies_go_to_the_pages_only() -> None:
    to_pages = request_headers(INCOMING, pass_authorization=True, added=ADDED, pass_cookies=True)
    assert [value for name, value in to_pages if name.lower() == b"cookie"] == [b"__Host-twofold=sealed-visit",
                                                                                   b"second=1"]
    for pass_authorization in (True, False):
        to_api = request_headers(INCOMING, pass_authorization=pass_authorization, added=ADDED)
        assert b"cookie" not in {name.lower() for name, _ in to_api}
        explicit = request_headers(INCOMING, pass_authorization=pass_authorization, added=ADDED, pass_cookies=False)
        assert explicit == to_api


def test_a_cookie_named_in_connection_is_hop_by_hop_and_dropped() -> None:
    incoming = [(b"connection", b"close, Cookie"), (b"cookie", b"a=b")]
    assert b"cookie" not in dict(request_headers(incoming, pass_authorization=True, added={}, pass_cookies=True))


@pytest.mark.parametrize("pass_cookies", [True, False])
@pytest.mark.parametrize("pass_authorization", [True, False])
def test_the_callers_internal_and_forwarding_headers_never_go_on(pass_cookies: bool, pass_authorization: bool) -> None:
    sent = request_headers(INCOMING, pass_authorization=pass_authorization, added=ADDED, pass_cookies=pass_cookies)
    values = {}
    for name, value in sent:
        values.setdefault(name.lower(), []).append(value)
    # only the gateway's own values, once each
    assert values[b"x-forwarded-for"] == [b"203.0.113.9"]
    assert values[b"x-internal-auth"] == [b"the-gateways-own"]
    for dropped in (b"x-twofold-client-id", b"x-real-ip", b"forwarded", b"host"):
        assert dropped not in values, dropped
    assert (b"authorization" in values) is pass_authorization
    assert values[b"user-agent"] == [b"Firefox"] and values[b"accept-language"] == [b"en"]


def test_without_added_values_no_internal_or_forwarding_header_goes_on_at_all() -> None:
    sent = request_headers(INCOMING, pass_authorization=True, added={}, pass_cookies=True)
    names = {name.lower() for name, _ in sent}
    assert not names & {b"x-internal-auth", b"x-forwarded-for", b"x-twofold-client-id"}

