"""Calls from one service to another: pooled aiohttp connections, one meaning for a peer that fails.

Every HTTP call a service makes goes through aiohttp: these calls (``PeerClient``) and the requests the
gateway forwards. It costs about 0.1 ms of CPU per call, against 0.34 ms with httpx over aiohttp's
transport and 1.4 ms with httpx's own (``bench/http_clients.py``), and it is one client library to keep
up, not three.

A caller maps the answers it expects (``answer.status_code``, ``is_problem``). What no caller can do
anything about is the same everywhere (``call``): a peer that is unreachable, answers a 5xx, or refuses
our own credentials is a 503 the client may retry (``<peer>-unavailable``), never a 500.

A call carries the request id and, while a span is current (tracing on), its trace context (``tracing.py``).
"""

from __future__ import annotations

import json as jsonlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp

from .errors import ServiceUnavailable
from .logging import current_request_id
from .tracing import trace_context

log = logging.getLogger(__name__)
T = TypeVar("T")

# uvicorn closes an idle connection after 5 s; a client that keeps it longer may send on a
# connection the server is closing and get a broken answer. Below a stopping service's drain, too.
KEEPALIVE_EXPIRY_SECONDS = 2.0
# Requests that may be sent again when the peer closed the connection without an answer (RFC 9110, 9.2.2).
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


def may_go_again(method: str, error: BaseException) -> bool:
    """Whether a request that failed with ``error`` may be sent once more: the connect failed (nothing reached
    the peer; another replica may take it), or an idempotent request's connection closed without an answer
    (a replica that stops closes the connections whose request it has not read, and a new connection may
    still reach it just before, so aiohttp's own one retry can meet it too). The connection may break while
    the request is being written (``ClientConnectionResetError``, which is no ``ClientOSError``) as well as
    while its answer is awaited. A POST never: the peer may have acted on it."""
    if isinstance(error, aiohttp.ClientConnectorError):
        return True
    broken = (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError, aiohttp.ClientConnectionResetError)
    return isinstance(error, broken) and method in IDEMPOTENT


class PeerUnreachable(Exception):
    """No answer: the connection failed, broke off, or the time ran out."""


@dataclass(frozen=True)
class PeerAnswer:
    status_code: int
    headers: Mapping[str, str]
    content: bytes

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return jsonlib.loads(self.content)

    def is_problem(self, code: str) -> bool:
        """Whether the peer answered the problem ``code``."""
        try:
            return str(self.json().get("type", "")).endswith(f"/{code}")
        except (ValueError, AttributeError):  # not JSON, or not an object
            return False


class PeerClient:
    """Calls to one peer (``name``: ``vault``, ``auth``, ...) at ``base_url``; ``sign`` adds credentials."""

    def __init__(self, name: str, base_url: str, *, timeout: float, connect_timeout: float | None = None,
                 max_connections: int = 100, sign: Callable[[], Mapping[str, str]] | None = None) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=timeout, connect=connect_timeout)
        self.max_connections = max_connections
        self.sign = sign
        self._session: aiohttp.ClientSession | None = None

    def _session_now(self) -> aiohttp.ClientSession:
        # created on first use: a session belongs to the running loop
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.max_connections, keepalive_timeout=KEEPALIVE_EXPIRY_SECONDS),
                timeout=self.timeout, cookie_jar=aiohttp.DummyCookieJar(), raise_for_status=False)
        return self._session

    async def request(self, method: str, path: str, *, json: Any = None, params: Mapping[str, str] | None = None,
                      headers: Mapping[str, str] | None = None, timeout: float | None = None) -> PeerAnswer:
        """The peer's answer, whatever its status; ``PeerUnreachable`` when there is none (after one more
        try where ``may_go_again`` allows it)."""
        sent = {**(self.sign() if self.sign else {}), **(headers or {}), **trace_context()}
        if request_id := current_request_id():
            sent["X-Request-ID"] = request_id
        options: dict[str, Any] = {"json": json, "params": params, "headers": sent, "allow_redirects": False}
        if timeout is not None:
            options["timeout"] = aiohttp.ClientTimeout(total=timeout)
        for attempt in (1, 2):
            try:
                async with self._session_now().request(method, self.base_url + path, **options) as response:
                    return PeerAnswer(response.status, response.headers, await response.read())
            except (TimeoutError, aiohttp.ClientError) as exc:
                if attempt == 2 or not may_go_again(method, exc):
                    raise PeerUnreachable(type(exc).__name__) from None
        raise AssertionError("unreachable")

    async def get(self, path: str, **options: Any) -> PeerAnswer:
        return await self.request("GET", path, **options)

    async def post(self, path: str, **options: Any) -> PeerAnswer:
        return await self.request("POST", path, **options)

    async def call(self, method: str, path: str, **options: Any) -> PeerAnswer:
        """``request``, with what no caller can act on turned into a 503: no answer, a 5xx, or a 401/403
        (the peer refused our own credentials)."""
        try:
            answer = await self.request(method, path, **options)
        except PeerUnreachable:
            raise self.unavailable("is unreachable") from None
        if answer.status_code >= 500 or answer.status_code in (401, 403):
            raise self.unavailable("did not answer")
        return answer

    def read(self, answer: PeerAnswer, build: Callable[[Any], T]) -> T:
        """``build`` applied to the JSON of a successful answer. Each caller maps first the refusals it
        expects; any other answer (or a body not as agreed) is a fault between the services: a 503."""
        if answer.is_success:
            try:
                return build(answer.json())
            except (ValueError, KeyError, TypeError):
                pass
        log.warning("unexpected answer from a peer", extra={"peer": self.name, "status": answer.status_code})
        raise self.unavailable("gave an unexpected answer")

    def unavailable(self, what: str) -> ServiceUnavailable:
        return ServiceUnavailable(f"The {self.name} {what}; try again.", code=f"{self.name}-unavailable")

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> PeerClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
