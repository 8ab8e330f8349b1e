"""Forwarding a checked request to the service that owns its path, over pooled connections.

Of the caller's headers only a short list is passed on: internal credentials,
the app identity header, forwarding headers and hop-by-hop headers from the
outside never reach a service, nor a caller's trace context.  The gateway adds
the caller's address, the request id, for an app its own internal token and the
app's id, and with tracing on the trace context of its own span.  A service
that cannot be reached is a 503, one that does not answer in time a 504: never
a hang.

Every request takes this path on aiohttp's client, as every call between
services does (twofold_common.peer): about 0.1 ms of CPU per request, where
httpx spent 1.4 ms (bench/http_clients.py). The gateway's own calls (health,
documents, keys) are ``PeerClient`` calls.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Iterable, Mapping, Sequence

import aiohttp
from starlette.requests import Request
from starlette.responses import Response
from yarl import URL

from twofold_common.errors import Problem, ServiceUnavailable
from twofold_common.http import SECURITY_HEADERS
from twofold_common.peer import KEEPALIVE_EXPIRY_SECONDS, PeerClient, PeerUnreachable, may_go_again
from twofold_common.tracing import trace_context

from .routes import Upstream

log = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
RawHeaders = list[tuple[bytes, bytes]]

HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"proxy-connection",
    b"te", b"trailer", b"transfer-encoding", b"upgrade",
})
PASSED_REQUEST_HEADERS = frozenset({b"accept", b"accept-language", b"authorization", b"content-type", b"user-agent"})
# Set again by this gateway's own edge (or by the server) on the way out: the service's copy would be a duplicate;
# the body is re-framed here, so its length and encoding are the gateway's to state.
RESET_RESPONSE_HEADERS = HOP_BY_HOP | {name for name, _ in SECURITY_HEADERS} | {
    b"content-length", b"content-encoding", b"date", b"server", b"x-request-id",
}


class GatewayTimeout(Problem):
    status, code, title = 504, "gateway-timeout", "Gateway timeout"


class BadGateway(Problem):
    status, code, title = 502, "bad-gateway", "Bad gateway"


def _connection_options(headers: Iterable[tuple[bytes, bytes]]) -> set[bytes]:
    """Headers the sender named in ``Connection``: hop-by-hop too (RFC 9110, 7.6.1)."""
    return {token.strip().lower() for name, value in headers if name.lower() == b"connection"
            for token in value.split(b",")}


def request_headers(incoming: RawHeaders, *, pass_authorization: bool, added: Mapping[str, str],
                    pass_cookies: bool = False) -> RawHeaders:
    """The caller's headers a service gets: a short list, without credentials the gateway consumed (an app's
    key), and cookies for the pages alone (no API reads one)."""
    passed = PASSED_REQUEST_HEADERS if pass_authorization else PASSED_REQUEST_HEADERS - {b"authorization"}
    if pass_cookies:
        passed = passed | {b"cookie"}
    dropped = _connection_options(incoming)
    kept = [(name, value) for name, value in incoming if name.lower() in passed and name.lower() not in dropped]
    # The services do not compress; asking for identity keeps the body byte for byte.
    return kept + [(b"accept-encoding", b"identity")] + [(k.lower().encode(), v.encode()) for k, v in added.items()]


def response_headers(upstream: RawHeaders) -> RawHeaders:
    dropped = _connection_options(upstream)
    return [(name, value) for name, value in upstream
            if name.lower() not in RESET_RESPONSE_HEADERS and name.lower() not in dropped]


def caller_address(peer: str | None, forwarded_for: str | None, trusted_proxies: Sequence[Network]) -> str:
    """The caller's ip: the peer, unless the peer is a trusted proxy that says who it forwards for.

    Walking ``X-Forwarded-For`` from the right, the first address that is not one of our
    proxies is the caller; everything left of it was written by the caller and proves nothing.
    """
    address = peer or "0.0.0.0"
    if not trusted_proxies or not forwarded_for or not _is_trusted(address, trusted_proxies):
        return address
    for entry in reversed([part.strip() for part in forwarded_for.split(",")]):
        try:
            ipaddress.ip_address(entry)
        except ValueError:
            return address  # our proxy wrote something that is no address: trust none of it
        address = entry
        if not _is_trusted(entry, trusted_proxies):
            break
    return address


def _is_trusted(address: str, trusted_proxies: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted_proxies)


class Upstreams:
    """Pooled connections per service; a request is sent as is, its answer passed back as is (no redirects)."""

    def __init__(self, urls: Mapping[Upstream, str], *, connect_timeout: float, read_timeout: float,
                 max_connections: int) -> None:
        self.clients = {
            upstream: PeerClient(upstream.value, url, timeout=read_timeout, connect_timeout=connect_timeout,
                                 max_connections=max_connections)
            for upstream, url in urls.items()
        }
        self.base_urls = {upstream: url.rstrip("/") for upstream, url in urls.items()}
        # Created in the running loop (start()): aiohttp binds a session to its loop.
        self._forwarding = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=max_connections, keepalive_timeout=KEEPALIVE_EXPIRY_SECONDS),
            timeout=aiohttp.ClientTimeout(total=None, connect=connect_timeout, sock_connect=connect_timeout,
                                          sock_read=read_timeout),
            # Only the headers request_headers() chose: no User-Agent, Accept or Content-Type of aiohttp's own.
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.aclose()
        await self._forwarding.close()

    async def healthy(self, upstream: Upstream) -> bool:
        try:
            return (await self.clients[upstream].get("/healthz", timeout=2.0)).status_code == 200
        except PeerUnreachable:
            return False

    async def forward(self, upstream: Upstream, request: Request, headers: RawHeaders) -> Response:
        raw_path = request.scope.get("raw_path") or request.scope["path"].encode()
        query = request.scope.get("query_string") or b""
        target = (self.base_urls[upstream] + raw_path.decode("latin-1")
                  + ("?" + query.decode("latin-1") if query else ""))
        # the gateway's own span's context (tracing on): a caller's traceparent is never among the headers passed
        outgoing = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in headers]
        outgoing += trace_context().items()
        body = await request.body()
        for attempt in (1, 2):
            try:
                async with self._forwarding.request(request.method, URL(target, encoded=True), headers=outgoing,
                                                    data=body or None, allow_redirects=False) as answer:
                    content = await answer.read()
                    status, raw_headers = answer.status, list(answer.raw_headers)
                break
            except (TimeoutError, aiohttp.ClientError) as exc:
                if attempt == 1 and may_go_again(request.method, exc):  # the rule PeerClient follows too
                    continue
                raise self._failed(upstream, exc) from None
        response = Response(content=content, status_code=status)
        response.raw_headers.extend(response_headers(raw_headers))
        return response

    @staticmethod
    def _failed(upstream: Upstream, exc: BaseException) -> Problem:
        # the error's type only: its text would carry the URL, and a callback's query holds a seed
        log.warning("upstream failed", extra={"upstream": upstream.value, "error": type(exc).__name__})
        if isinstance(exc, (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)):
            return ServiceUnavailable(f"The {upstream} service is unavailable.", code="service-unavailable")
        if isinstance(exc, asyncio.TimeoutError):
            return GatewayTimeout(f"The {upstream} service did not answer in time.")
        return BadGateway(f"The {upstream} service broke off the answer.")
