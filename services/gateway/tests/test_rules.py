"""The gateway's rules on their own, without processes: route matching, headers, addresses, limits, revocations."""

from __future__ import annotations

import ipaddress
import uuid

import httpx
import pytest

from twofold_auth.settings import AuthSettings
from twofold_common.cli import server_config
from twofold_common.errors import NotFound, TooManyRequests
from twofold_common.internal_keys import new_signing_key, public_keys_json
from twofold_common.peer import KEEPALIVE_EXPIRY_SECONDS
from twofold_gateway.app import create_app
from twofold_gateway.limits import TokenBuckets
from twofold_gateway.proxy import caller_address, request_headers, response_headers
from twofold_gateway.revocations import CLOCK_SKEW_SECONDS, RevokedSessions
from twofold_gateway.routes import ROUTES, MethodNotAllowed, Policy, Upstream
from twofold_gateway.settings import GatewaySettings


class Clock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(("method", "path", "upstream", "policy"), [
    ("POST", "/api/auth/login", Upstream.AUTH, Policy.OPEN),
    ("DELETE", "/api/auth/sessions/0b5e4f7c-1d2e-4c3b-9a8f-000000000001", Upstream.AUTH, Policy.SESSION),
    ("DELETE", "/api/auth/sessions", Upstream.AUTH, Policy.SESSION),
    ("POST", "/api/admin/users/42/unlock", Upstream.AUTH, Policy.ADMIN),
    ("GET", "/api/auth/registrations/reg_abc", Upstream.REGISTRATION, Policy.ENROLLMENT),
    ("GET", "/api/auth/totp-callback", Upstream.REGISTRATION, Policy.OPEN),
    ("POST", "/api/v1/verify", Upstream.VAULT, Policy.APP),
])
def test_public_paths_go_to_their_owner(method: str, path: str, upstream: Upstream, policy: Policy) -> None:
    route = ROUTES.find(method, path)
    assert (route.upstream, route.policy) == (upstream, policy)


@pytest.mark.parametrize("path", [
    "/internal/clients/authenticate", "/internal/seeds", "/api/auth/sessions/a/b", "/api/auth/registrations/..",
    "/api/auth/registrations/.", "/api/auth/login/", "/api/admin/users//unlock", "/api/auth",
])
def test_anything_else_is_not_routed(path: str) -> None:
    with pytest.raises(NotFound):
        ROUTES.find("GET" if "registrations" in path else "POST", path)


def test_a_known_path_with_another_method_names_the_allowed_ones() -> None:
    with pytest.raises(MethodNotAllowed) as refused:
        ROUTES.find("PUT", "/api/auth/sessions")
    assert refused.value.headers == {"Allow": "DELETE, GET"}


def test_only_end_to_end_headers_go_upstream_and_internal_ones_never() -> None:
    incoming = [(b"content-type", b"application/json"), (b"authorization", b"Bearer t"), (b"user-agent", b"ua"),
                (b"connection", b"keep-alive, User-Agent"), (b"keep-alive", b"300"), (b"te", b"trailers"),
                (b"x-internal-auth", b"spoofed"), (b"x-twofold-client-id", b"cl_x"), (b"x-forwarded-for", b"1.2.3.4"),
                (b"cookie", b"a=b"), (b"host", b"gateway")]
    sent = request_headers(incoming, pass_authorization=True, added={"X-Forwarded-For": "10.0.0.7"})
    assert dict(sent) == {b"content-type": b"application/json", b"authorization": b"Bearer t",
                          b"accept-encoding": b"identity", b"x-forwarded-for": b"10.0.0.7"}
    for_an_app = request_headers(incoming, pass_authorization=False, added={})
    assert b"authorization" not in dict(for_an_app)


def test_hop_by_hop_and_edge_headers_of_the_answer_are_not_passed_back() -> None:
    answer = [(b"content-type", b"text/html"), (b"connection", b"close, X-Private"), (b"x-private", b"1"),
              (b"transfer-encoding", b"chunked"), (b"location", b"https://app.example.com/done"),
              (b"set-cookie", b"a=1"), (b"set-cookie", b"b=2"), (b"x-request-id", b"theirs"), (b"server", b"uvicorn")]
    assert response_headers(answer) == [(b"content-type", b"text/html"), (b"location", b"https://app.example.com/done"),
                                        (b"set-cookie", b"a=1"), (b"set-cookie", b"b=2")]


def test_the_caller_is_the_peer_unless_the_peer_is_a_trusted_proxy() -> None:
    proxies = [ipaddress.ip_network("10.0.0.0/8")]
    assert caller_address("198.51.100.1", "203.0.113.9", []) == "198.51.100.1"
    assert caller_address("198.51.100.1", "203.0.113.9", proxies) == "198.51.100.1"
    # the proxy appended the real caller at the right; what the caller wrote to its left proves nothing
    assert caller_address("10.0.0.2", "6.6.6.6, 203.0.113.9", proxies) == "203.0.113.9"
    assert caller_address("10.0.0.2", "203.0.113.9, 10.0.0.3", proxies) == "203.0.113.9"
    assert caller_address("10.0.0.2", "garbage", proxies) == "10.0.0.2"


def test_a_bucket_allows_the_burst_then_the_rate_and_says_when_to_retry() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=2, burst=3, clock=clock)
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == pytest.approx(0.5)
    assert buckets.take("b") == 0.0  # per key
    with pytest.raises(TooManyRequests) as limited:
        buckets.check("a")
    assert limited.value.headers == {"Retry-After": "1"}
    clock.now += 1.5
    assert buckets.take("a") == 0.0


def test_buckets_forget_the_longest_idle_key_beyond_their_size() -> None:
    buckets = TokenBuckets(rate=1, burst=1, max_keys=2, clock=Clock())
    buckets.take("a")
    buckets.take("b")
    buckets.take("c")  # "a" is forgotten: a forgotten bucket is a full one
    assert buckets.take("a") == 0.0 and buckets.take("c") > 0


def test_a_revoked_session_is_remembered_for_one_token_lifetime() -> None:
    clock = Clock()
    revoked = RevokedSessions(900, clock=clock)
    session, old = uuid.uuid4(), uuid.uuid4()
    revoked.revoke(session, revoked_at=clock.now)
    revoked.revoke(old, revoked_at=clock.now - 900 - CLOCK_SKEW_SECONDS - 1)  # its tokens expired already
    assert session in revoked and old not in revoked and uuid.uuid4() not in revoked
    clock.now += 900 + CLOCK_SKEW_SECONDS + 1
    assert session not in revoked
    revoked.revoke(uuid.uuid4(), revoked_at=clock.now)  # a later event prunes what has run out
    assert len(revoked) == 1


async def test_cors_for_the_listed_origins_only_and_hsts_in_production() -> None:
    key = new_signing_key("gateway")
    settings = GatewaySettings(environment="production", internal_signing_key=key.text,
                               internal_public_keys=public_keys_json({"gateway": [key]}),
                               token_issuer="https://id.example.com", cors_origins=["https://app.example.com"])
    transport = httpx.ASGITransport(app=create_app(settings))  # the edge only: no lifespan, no services
    async with httpx.AsyncClient(transport=transport, base_url="https://gateway.test") as http:
        preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
        allowed = await http.options("/api/auth/login", headers={"Origin": "https://app.example.com", **preflight})
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
        refused = await http.options("/api/auth/login", headers={"Origin": "https://evil.example", **preflight})
        assert "access-control-allow-origin" not in refused.headers
        health = await http.get("/healthz")
        assert health.headers["strict-transport-security"].startswith("max-age=")
        assert health.headers["x-frame-options"] == "DENY"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(GatewaySettings())),
                                 base_url="http://gateway.test") as http:
        answer = await http.get("/healthz", headers={"Origin": "https://app.example.com"})
        assert "access-control-allow-origin" not in answer.headers  # no origins by default
        assert "strict-transport-security" not in answer.headers


def test_every_service_keeps_an_idle_connection_longer_than_the_pools_of_its_callers() -> None:
    """A pool that keeps an idle connection as long as the server (httpx's 5 s against uvicorn's 5 s, as this
    suite's own client did) may send a request in the instant the server closes it, and get no answer. The
    race needs the two timers to meet within a millisecond, so what is checked is their order: services above
    our peer client's expiry, the gateway above the 60 s of a load balancer, an ingress, or an app's pool."""
    assert server_config(None, AuthSettings()).timeout_keep_alive > KEEPALIVE_EXPIRY_SECONDS
    assert server_config(None, GatewaySettings()).timeout_keep_alive > 60
