"""What crosses the wire between the gateway and a service; outages, timeouts and the per-ip limit."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest

from twofold_common.testing.http import bearer, dev_internal_auth
from twofold_common.testing.inprocess import InProcessService
from twofold_common.testing.metrics import moved, scrape
from twofold_common.testing.processes import free_port
from twofold_common.testing.stack import metrics_url


@dataclass
class Probe:
    """An upstream that records each request it gets and answers with hop-by-hop headers of its own.

    It stands where a service would, to see the bytes the gateway sends; it is a measuring
    instrument, not a stand-in for a service's behaviour.
    """

    delay: float = 0.0
    drops: int = 0  # the next requests it reads and closes the connection on, unanswered (a replica stopping)
    received: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        if self.drops:
            self.drops -= 1
            self.received.append((head[0], {}, b""))
            writer.close()
            return
        headers: dict[str, str] = {}
        for line in head[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.received.append((head[0], headers, body))
        await asyncio.sleep(self.delay)
        payload = b'{"probe": true}'
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                     b"Connection: close, X-Upstream-Private\r\nKeep-Alive: timeout=5\r\nX-Upstream-Private: 1\r\n"
                     b"Proxy-Authenticate: Basic\r\nX-Request-ID: probe-made-this\r\nX-Kept: yes\r\n\r\n%s"
                     % (len(payload), payload))
        await writer.drain()
        writer.close()


@pytest.fixture
async def probed_gateway(infra) -> AsyncIterator[tuple[httpx.AsyncClient, Probe]]:
    """A gateway whose registration is the probe and whose auth is a port where nothing listens."""
    probe = Probe()
    server = await asyncio.start_server(probe.handle, "127.0.0.1", 0)
    probe_port = server.sockets[0].getsockname()[1]
    port = free_port()
    gateway = await InProcessService("gateway", "twofold_gateway", {
        "GATEWAY_PORT": str(port), "GATEWAY_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
        "GATEWAY_AUTH_URL": f"http://127.0.0.1:{free_port()}",
        "GATEWAY_REGISTRATION_URL": f"http://127.0.0.1:{probe_port}",
        "GATEWAY_UPSTREAM_READ_TIMEOUT": "1",
    }, port).start()
    try:
        async with gateway.client() as http:
            yield http, probe
    finally:
        await gateway.stop()
        server.close()
        await server.wait_closed()


async def test_only_end_to_end_headers_cross_and_the_gateway_states_who_calls(probed_gateway) -> None:
    http, probe = probed_gateway
    answer = await http.post("/api/auth/setup-2fa/confirm?b=%20x&a=1", content=b'{"code": "123456"}', headers={
        "Content-Type": "application/json", "Accept": "application/json", "User-Agent": "probe-test/1",
        "Connection": "keep-alive, X-Drop-Me", "X-Drop-Me": "1", "Keep-Alive": "300", "TE": "trailers",
        "Proxy-Authorization": "Basic eDp5", "Upgrade": "websocket", "Cookie": "a=b",
        "X-Twofold-Client-Id": "cl_spoofed",
        "X-Forwarded-For": "203.0.113.9", "X-Request-ID": "caller-request-1",
    })
    assert answer.status_code == 200 and answer.json() == {"probe": True}
    [(request_line, headers, body)] = probe.received
    assert request_line == "POST /api/auth/setup-2fa/confirm?b=%20x&a=1 HTTP/1.1"
    assert body == b'{"code": "123456"}'
    assert headers["content-type"] == "application/json" and headers["accept"] == "application/json"
    assert headers["user-agent"] == "probe-test/1"
    assert headers["x-forwarded-for"] == "127.0.0.1"  # the peer, not the caller's claim
    assert headers["x-request-id"] == "caller-request-1"
    for dropped in ("x-drop-me", "keep-alive", "te", "proxy-authorization", "upgrade", "cookie",
                    "x-twofold-client-id"):
        assert dropped not in headers, dropped
    # the gateway's own credential, not the caller's: with it the service believes x-forwarded-for
    assert dev_internal_auth("registration").verify(headers["x-internal-auth"]) == "gateway"

    assert answer.headers["x-kept"] == "yes"
    for dropped in ("keep-alive", "x-upstream-private", "proxy-authenticate"):
        assert dropped not in answer.headers, dropped
    assert answer.headers.get_list("x-request-id") == ["caller-request-1"]
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert "strict-transport-security" not in answer.headers  # production only


async def test_a_service_that_is_away_or_slow_gives_a_problem_at_once(probed_gateway) -> None:
    http, probe = probed_gateway
    started = time.monotonic()
    away = await http.get("/.well-known/jwks.json")
    assert away.status_code == 503 and away.headers["content-type"] == "application/problem+json"
    assert away.json()["type"].endswith("/service-unavailable") and time.monotonic() - started < 10

    probe.delay = 5
    started = time.monotonic()
    slow = await http.get("/api/auth/totp-callback", params={"regToken": "reg_x"})
    assert slow.status_code == 504 and slow.json()["type"].endswith("/gateway-timeout")
    assert time.monotonic() - started < 10
    ready = await http.get("/readyz")  # still ready: the other routes work; the report names what is down
    assert ready.status_code == 200 and ready.json()["checks"]["auth"] == "unreachable"


async def test_an_idempotent_request_goes_again_when_a_stopping_replica_drops_it_and_a_post_does_not(
        probed_gateway) -> None:
    """A replica that stops closes the connections whose request it has not read yet, and a new connection
    may still reach it just before: a GET meets that twice at worst (aiohttp's own retry, then the gateway's).
    A POST is never sent again: the service may have acted on it."""
    http, probe = probed_gateway
    probe.drops = 2
    landed = await http.get("/api/auth/totp-callback", params={"regToken": "reg_x"})
    assert landed.status_code == 200 and len(probe.received) == 3
    probe.drops, probe.received[:] = 1, []
    posted = await http.post("/api/auth/setup-2fa/confirm", json={})
    assert posted.status_code == 502 and posted.json()["type"].endswith("/bad-gateway")
    assert len(probe.received) == 1


@pytest.mark.gateway_env(GATEWAY_OPEN_RATE_PER_SECOND="0.5", GATEWAY_OPEN_BURST="3")
async def test_a_stopped_service_and_the_per_ip_limit(world) -> None:
    person = await world.register()
    await world.stack["registration"].stop()
    started = time.monotonic()
    answer = await world.http.post("/api/auth/setup-2fa", json={}, headers=bearer(person.setup_token))
    assert answer.status_code == 503 and answer.json()["type"].endswith("/service-unavailable")
    assert time.monotonic() - started < 10
    ready = await world.http.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {
        "broker": "ok", "auth": "ok", "registration": "unreachable", "vault": "ok", "web": "unreachable"}

    # a burst of 3 per address (the registration took one, the seconds since gave some back), then
    # one request every 2 s
    before = await scrape(metrics_url(world.stack, "gateway"))
    statuses = [(await world.http.post("/api/auth/login", json={})).status_code for _ in range(8)]
    allowed = statuses.count(422)
    assert 2 <= allowed <= 3 and statuses == [422] * allowed + [429] * (8 - allowed)
    limited = await world.http.post("/api/auth/login", json={})
    assert limited.status_code == 429 and limited.json()["type"].endswith("/rate-limited")
    login = 'method="POST",route="/api/auth/login"'
    assert moved(before, await scrape(metrics_url(world.stack, "gateway"))) == {
        "twofold_gateway_rate_limited_requests_total": 9 - allowed,
        f'twofold_http_requests_total{{{login},status_class="4xx"}}': 9,
        f"twofold_http_request_duration_seconds_count{{{login}}}": 9}
    retry_after = int(limited.headers["retry-after"])
    assert 1 <= retry_after <= 2
    # keys are not limited per ip, and neither are signed-in calls
    assert (await world.http.get("/.well-known/jwks.json")).status_code == 200
    await asyncio.sleep(retry_after)
    assert (await world.http.post("/api/auth/login", json={})).status_code == 422
