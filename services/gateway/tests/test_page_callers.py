"""The gateway in the test's process in front of recording upstreams: who may name a person's address (the web
service alone, by its internal token), what a forged internal credential gets, and what reaches the pages.

The upstreams are measuring instruments, as in test_forwarding.py: each records the requests it gets, so a
refusal can be shown to have reached no service.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import jwt
import pytest

from twofold_common.internal_auth import INTERNAL_AUTH_HEADER
from twofold_common.internal_keys import dev_signing_key
from twofold_common.testing.http import dev_internal_auth
from twofold_common.testing.inprocess import InProcessService
from twofold_common.testing.processes import free_port

BURST = 2  # per address, and almost no refill: a third request in a test is the one refused


@dataclass
class Recorder:
    """Stands where a service would: records each request (line, headers, body) and answers 200 with a cookie."""

    document: dict | None = None  # answered to GET /openapi.json
    received: list[tuple[str, dict[str, list[str]], bytes]] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        headers: dict[str, list[str]] = {}
        for line in head[1:]:
            if line:
                name, _, value = line.partition(":")
                headers.setdefault(name.strip().lower(), []).append(value.strip())
        body = await reader.readexactly(int(headers.get("content-length", ["0"])[0]))
        self.received.append((head[0], headers, body))
        payload = json.dumps(self.document if head[0].startswith("GET /openapi.json ") else {"recorded": True})
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                     b"Set-Cookie: __Host-twofold=from-upstream; Path=/; HttpOnly\r\nConnection: close\r\n\r\n%s"
                     % (len(payload), payload.encode()))
        await writer.drain()
        writer.close()

    def lines(self) -> list[str]:
        return [line for line, _, _ in self.received]

    def last(self, name: str) -> list[str]:
        return self.received[-1][1].get(name, [])


def document(*paths: str) -> dict:
    """A service's API description with a POST operation on each path."""
    operation = {"responses": {"200": {"description": "ok"}}}
    return {"openapi": "3.1.0", "paths": {path: {"post": operation, "get": operation} for path in paths},
            "components": {"schemas": {}}}


@dataclass
class Front:
    http: httpx.AsyncClient  # a caller at ``peer``, a different one in each test (its own per-address bucket)
    peer: str
    port: int
    auth: Recorder
    web: Recorder

    def reached(self) -> int:
        return len(self.auth.received) + len(self.web.received)


@pytest.fixture(scope="module")
async def gateway(infra) -> AsyncIterator[tuple[InProcessService, Recorder, Recorder]]:
    """The gateway with auth, registration and the vault answered by one recorder and the pages by another."""
    auth = Recorder(document("/api/auth/login", "/api/auth/register"))
    web = Recorder(document("/ui/{page}", "/"))  # were it asked (it must not be), pages would be described
    servers = [await asyncio.start_server(recorder.handle, "127.0.0.1", 0) for recorder in (auth, web)]
    auth_url, web_url = (f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}" for server in servers)
    port = free_port()
    service = await InProcessService("gateway", "twofold_gateway", {
        "GATEWAY_PORT": str(port), "GATEWAY_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
        "GATEWAY_AUTH_URL": auth_url, "GATEWAY_REGISTRATION_URL": auth_url, "GATEWAY_VAULT_URL": auth_url,
        "GATEWAY_WEB_URL": web_url,
        "GATEWAY_OPEN_BURST": str(BURST), "GATEWAY_OPEN_RATE_PER_SECOND": "0.001",
    }, port).start()
    try:
        yield service, auth, web
    finally:
        await service.stop()
        for server in servers:
            server.close()
            await server.wait_closed()


PEERS = (f"192.0.2.{n}" for n in itertools.count(1))


@pytest.fixture
async def front(gateway) -> AsyncIterator[Front]:
    service, auth, web = gateway
    auth.received.clear()
    web.received.clear()
    peer = next(PEERS)
    transport = httpx.ASGITransport(app=service.app, client=(peer, 50000))
    async with httpx.AsyncClient(transport=transport, base_url=service.url, timeout=30) as http:
        yield Front(http, peer, service.port, auth, web)


def problem_type(answer: httpx.Response) -> str:
    assert answer.headers["content-type"] == "application/problem+json", answer.text
    return answer.json()["type"].rsplit("/", 1)[-1]


def as_web(address: str | None = None) -> dict[str, str]:
    """What the web service sends with a call for a person: its internal token and the person's address."""
    headers = {INTERNAL_AUTH_HEADER: dev_internal_auth("web").token_for("gateway")}
    if address is not None:
        headers["X-Forwarded-For"] = address
    return headers


def expired_web_token() -> str:
    key = dev_signing_key("web")
    now = int(time.time())
    return jwt.encode({"iss": "web", "aud": "gateway", "iat": now - 600, "exp": now - 300}, key.private_key,
                      algorithm="EdDSA", headers={"kid": key.kid})


def forged() -> dict[str, tuple[str, int]]:
    """name -> (X-Internal-Auth, the status it gets); made when the test runs, the valid ones being short-lived."""
    now = int(time.time())
    return {
        "random": ("Zm9yZ2VkLXRva2Vu.random.string", 401),
        "empty": ("", 401),
        "unsigned, claiming web": (jwt.encode({"iss": "web", "aud": "gateway", "iat": now, "exp": now + 60}, "",
                                              algorithm="none"), 401),
        "auth's own, valid": (dev_internal_auth("auth").token_for("gateway"), 403),
        "the gateway's own, valid": (dev_internal_auth("gateway").token_for("gateway"), 403),
        "claiming web, signed with auth's key": (dev_internal_auth("web", key_of="auth").token_for("gateway"), 401),
        "web's, for another service": (dev_internal_auth("web").token_for("auth"), 401),
        "web's, expired": (expired_web_token(), 401),
    }


async def test_a_forged_internal_credential_is_refused_and_reaches_no_service(front: Front) -> None:
    calls = [("POST", "/api/auth/login"), ("GET", "/.well-known/jwks.json"), ("GET", "/api/auth/sessions"),
             ("GET", "/ui/signin"), ("POST", "/ui/signin"), ("GET", "/")]
    for name, (token, status) in forged().items():
        for method, path in calls:
            answer = await front.http.request(method, path, json={}, headers={
                INTERNAL_AUTH_HEADER: token, "X-Forwarded-For": "203.0.113.66"})
            assert answer.status_code == status, (name, path, answer.text)
            assert problem_type(answer) == "internal-auth", (name, path)
    assert front.reached() == 0
    # the control: without the header, the same calls do reach the services
    for method, path in [("POST", "/api/auth/login"), ("GET", "/ui/signin")]:
        assert (await front.http.request(method, path, json={})).status_code == 200
    assert front.auth.lines() == ["POST /api/auth/login HTTP/1.1"] and front.web.lines() == ["GET /ui/signin HTTP/1.1"]


async def test_with_the_web_services_token_the_forwarded_address_is_the_callers(front: Front) -> None:
    keys = "/.well-known/jwks.json"  # open and not limited: every call reaches auth
    cases = [
        (["203.0.113.7"], "203.0.113.7"),
        (["198.51.100.66, 203.0.113.8"], "203.0.113.8"),  # the right-most: the one the web service wrote
        (["198.51.100.66", "203.0.113.9"], "203.0.113.9"),  # two headers are one list
        (["2001:db8::5"], "2001:db8::5"),
        ([" 203.0.113.10 "], "203.0.113.10"),
    ]
    for given, believed in cases:
        headers = [(INTERNAL_AUTH_HEADER, dev_internal_auth("web").token_for("gateway")),
                   *(("X-Forwarded-For", value) for value in given)]
        answer = await front.http.get(keys, headers=headers)
        assert answer.status_code == 200, answer.text
        assert front.auth.last("x-forwarded-for") == [believed], given
        # auth gets the gateway's own credential, never the web service's
        [credential] = front.auth.last("x-internal-auth")
        assert dev_internal_auth("auth").verify(credential) == "gateway"

    without = await front.http.get(keys, headers={"X-Forwarded-For": "203.0.113.7"})
    assert without.status_code == 200 and front.auth.last("x-forwarded-for") == [front.peer]

    for given in ("garbage", "203.0.113.7, not-an-address", "", "203.0.113.300"):
        answer = await front.http.get(keys, headers=as_web(given))
        assert answer.status_code == 400 and problem_type(answer) == "invalid-forwarded-for", given
    missing = await front.http.get(keys, headers=as_web())
    assert missing.status_code == 400 and problem_type(missing) == "invalid-forwarded-for"
    assert len(front.auth.received) == len(cases) + 1


async def test_the_per_address_limit_counts_the_persons_address_only_from_the_web_service(front: Front) -> None:
    login = "/api/auth/login"

    async def statuses(headers: dict[str, str], count: int) -> list[int]:
        return [(await front.http.post(login, json={}, headers=headers)).status_code for _ in range(count)]

    # with the web service's token: one bucket per person's address
    assert await statuses(as_web("203.0.113.1"), BURST + 1) == [200] * BURST + [429]
    assert await statuses(as_web("203.0.113.2"), BURST) == [200] * BURST
    limited = await front.http.post(login, json={}, headers=as_web("203.0.113.1"))
    assert limited.status_code == 429 and problem_type(limited) == "rate-limited"
    assert int(limited.headers["retry-after"]) >= 1

    # without it the header is the caller's word: every request counts against the peer, whose bucket the web
    # service's calls above did not touch
    peer = [(await front.http.post(login, json={}, headers={"X-Forwarded-For": f"198.51.100.{n}"})).status_code
            for n in range(1, BURST + 2)]
    assert peer == [200] * BURST + [429]
    assert (await front.http.post(login, json={})).status_code == 429
    # and the web service's people still have their own
    assert (await front.http.post(login, json={}, headers=as_web("203.0.113.3"))).status_code == 200
    assert len(front.auth.received) == 2 * BURST + BURST + 1


async def test_pages_reach_the_web_service_with_the_cookie_and_the_api_gets_none(front: Front) -> None:
    cookie = {"Cookie": "__Host-twofold=sealed-visit", "X-Forwarded-For": "6.6.6.6"}
    page = await front.http.get("/ui/signin?email=a%40b.example", headers=cookie)
    assert page.status_code == 200
    assert front.web.lines() == ["GET /ui/signin?email=a%40b.example HTTP/1.1"]
    assert front.web.last("cookie") == ["__Host-twofold=sealed-visit"]
    assert front.web.last("x-forwarded-for") == [front.peer]  # a browser does not choose its address
    [credential] = front.web.last("x-internal-auth")
    assert dev_internal_auth("web").verify(credential) == "gateway"  # with which web believes that address
    assert page.headers.get_list("set-cookie") == ["__Host-twofold=from-upstream; Path=/; HttpOnly"]

    form = await front.http.post("/ui/signin", content=b"csrf=t&email=a%40b.example", headers={
        **cookie, "Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 200
    assert front.web.received[-1][2] == b"csrf=t&email=a%40b.example"
    assert front.web.last("content-type") == ["application/x-www-form-urlencoded"]
    assert front.web.last("cookie") == ["__Host-twofold=sealed-visit"]
    assert (await front.http.get("/", headers=cookie)).status_code == 200
    assert front.web.lines()[-1] == "GET / HTTP/1.1"

    api = await front.http.post("/api/auth/login", json={}, headers=cookie)
    assert api.status_code == 200
    assert "cookie" not in front.auth.received[-1][1]
    assert len(front.auth.received) == 1 and len(front.web.received) == 3


async def raw_request(port: int, method: str, target: str) -> tuple[int, dict[str, str], bytes]:
    """A request line sent as written: a client library would fold ``/./`` and ``/../`` away first."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"{method} {target} HTTP/1.1\r\nHost: gateway.test\r\nContent-Length: 0\r\n"
                 "Connection: close\r\n\r\n".encode())
    await writer.drain()
    raw = await reader.read()
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


@pytest.mark.parametrize(("method", "target"), [
    ("GET", "/ui/../api/admin/audit"), ("GET", "/ui/a/./b"), ("POST", "/ui/a/../../api/auth/login"),
    ("GET", "/ui/%2e%2e/api/admin/audit"), ("GET", "/ui/..%2fapi/admin/audit"), ("GET", "/ui/%2E/signin"),
    ("GET", "/ui"), ("GET", "/ui/"), ("GET", "/uix"), ("POST", "/uix/signin"),
])
async def test_paths_that_are_not_pages_reach_nobody(front: Front, method: str, target: str) -> None:
    status, headers, body = await raw_request(front.port, method, target)
    assert status == 404 and headers["content-type"] == "application/problem+json", (target, body)
    assert json.loads(body)["type"].endswith("/not-found")
    assert front.reached() == 0


async def test_another_method_on_a_page_is_405_with_allow(front: Front) -> None:
    for path, allowed in [("/ui/x", "GET, POST"), ("/", "GET")]:
        answer = await front.http.put(path, content=b"x")
        assert answer.status_code == 405 and answer.headers["allow"] == allowed, path
        assert problem_type(answer) == "method-not-allowed"
    assert front.reached() == 0


async def test_the_public_document_describes_no_page_and_never_asks_the_web_service(front: Front) -> None:
    answer = await front.http.get("/openapi.json")
    assert answer.status_code == 200, answer.text
    paths = set(answer.json()["paths"])
    assert "/api/auth/login" in paths  # the API's own, from its service
    assert "/" not in paths and not any(path == "/ui" or path.startswith("/ui/") for path in paths), paths
    assert "GET /openapi.json HTTP/1.1" in front.auth.lines()
    assert front.web.received == []
