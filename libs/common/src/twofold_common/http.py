"""The HTTP edge every service shares: request ids, access log, metrics, body limit, security headers."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import internal_error_response, problem_response
from .logging import reset_request_id, set_request_id
from .metrics import UNMATCHED, Metrics

access_log = logging.getLogger("twofold.access")
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]


# A route that forwards many paths (the gateway's) names the template it served under this key of the scope.
ROUTE_TEMPLATE = "twofold.route_template"


class _BodyTooLarge(Exception):
    pass


def name_route(scope: Scope, template: str) -> None:
    """The route template the request's metrics count it under, when the matched route is a catch-all."""
    scope[ROUTE_TEMPLATE] = template


def route_template(scope: Scope) -> str:
    """The template of the route that answered (``/api/auth/sessions/{session_id}``), never the raw path."""
    template = scope.get(ROUTE_TEMPLATE) or getattr(scope.get("route"), "path", None)
    return template if isinstance(template, str) else UNMATCHED


class Draining:
    """Whether the process was told to stop and is draining: it still answers, but says ``Connection: close``
    with each answer and is no longer ready, so no caller keeps a connection to it when it closes them
    (``cli.DrainingServer``)."""

    def __init__(self) -> None:
        self.started = False

    def start(self) -> None:
        self.started = True


class RequestContextMiddleware:
    """Pure ASGI (no per-request task overhead).

    - takes ``X-Request-ID`` from the caller when well-formed, else makes one, and echoes it;
    - refuses bodies over ``max_body_bytes`` with 413 before the app reads them;
    - writes one access-log line per request with the path but never the query
      string (the provider callback carries a seed and a code in it);
    - counts the request and its time by route template and status class (``metrics``);
    - while the process drains, closes each connection after its answer, and answers a request its stop
      cancels with 503 ``stopping``.
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, draining: Draining | None = None,
                 metrics: Metrics | None = None) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.draining = draining or Draining()
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _VALID_REQUEST_ID.match(given) else uuid.uuid4().hex
        token = set_request_id(request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                closing = [(b"connection", b"close")] if self.draining.started else []
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode()),
                                      *SECURITY_HEADERS, *closing]
            await send(message)

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise _BodyTooLarge
            return message

        try:
            declared = headers.get(b"content-length")
            if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
                raise _BodyTooLarge
            await self.app(scope, limited_receive, send_with_headers)
        except _BodyTooLarge:
            if not response_started:
                response = problem_response(413, "body-too-large", "Request body too large",
                                            f"The body exceeds {self.max_body_bytes} bytes.")
                await response(scope, receive, send_with_headers)
        except asyncio.CancelledError:
            if response_started or not self.draining.started:
                raise
            # The stop's grace ran out and uvicorn cancels what still runs; its own answer would be a 500.
            # The unit of work rolled back; the caller may try again, on another replica.
            await problem_response(503, "stopping", "Service stopping", "The service stopped before it answered.",
                                   headers={"Retry-After": "1"})(scope, receive, send_with_headers)
        except Exception:
            if response_started:
                raise
            # Answered here, not by Starlette's last-resort handler: that one re-raises after its 500, and
            # uvicorn then closes the kept-alive connection under a gateway that may already be sending
            # the next request on it (which then breaks off: a 502 for a request that did nothing wrong).
            await internal_error_response(scope.get("path", ""))(scope, receive, send_with_headers)
        finally:
            client = scope.get("client")
            seconds = time.perf_counter() - started
            access_log.info(
                "request",
                extra={
                    "method": scope.get("method"),
                    "path": scope.get("path"),
                    "status": status,
                    "duration_ms": round(seconds * 1000, 2),
                    "client_ip": client[0] if client else None,
                },
            )
            if self.metrics is not None:
                self.metrics.observe_request(scope["method"], route_template(scope), status, seconds)
            reset_request_id(token)
