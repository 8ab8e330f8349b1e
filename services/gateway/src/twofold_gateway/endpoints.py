"""The gateway's own endpoints, and the one route that forwards everything in the route table."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response

from twofold_common.errors import problem_responses
from twofold_common.internal_auth import CLIENT_ID_HEADER, INTERNAL_AUTH_HEADER
from twofold_common.kafka import broker_reachable
from twofold_common.logging import current_request_id
from twofold_common.runtime import stopping_answer

from .deps import GatewayDep
from .proxy import caller_address, request_headers
from .routes import ROUTES, Upstream

router = APIRouter()
# Ahead of the shared /readyz (which knows only the broker): see app.py.
readiness = APIRouter(tags=["health"])

FORWARDED_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


@readiness.get("/readyz",
               summary="The gateway can take traffic (the broker is reachable); services behind it are reported",
               responses={503: {"description": "The broker is unreachable", "content": {"application/json": {}}}})
async def readyz(request: Request, gateway: GatewayDep) -> JSONResponse:
    if stopping := stopping_answer(request):
        return stopping
    upstreams = list(Upstream)
    broker, *services = await asyncio.gather(broker_reachable(gateway.settings.kafka_bootstrap),
                                             *(gateway.upstreams.healthy(u) for u in upstreams))
    checks = {"broker": broker, **{u.value: ok for u, ok in zip(upstreams, services, strict=True)}}
    # A service that is down makes its routes answer 503; it must not take every gateway replica out of
    # the load balancer (the routes to the other services still work).  The broker is the gateway's own
    # dependency: without it, revoked sessions would go unnoticed.
    ready = broker
    return JSONResponse({"status": "ready" if ready else "not-ready",
                         "checks": {name: "ok" if ok else "unreachable" for name, ok in checks.items()}},
                        status_code=200 if ready else 503)


@router.get("/openapi.json", tags=["documentation"], summary="This document: the whole public API",
            responses=problem_responses(503))
async def openapi(gateway: GatewayDep) -> JSONResponse:
    return JSONResponse(await gateway.document.get())


@router.get("/docs", include_in_schema=False)
async def docs() -> HTMLResponse:
    return get_swagger_ui_html(openapi_url="/openapi.json", title="Twofold API")


@router.api_route("/{path:path}", methods=FORWARDED_METHODS, include_in_schema=False)
async def forward(request: Request, gateway: GatewayDep) -> Response:
    """Route table, then the per-ip limit, then the caller's credentials; only then the service."""
    route = ROUTES.find(request.method, request.scope["path"])
    ip = caller_address(request.client.host if request.client else None,
                        ", ".join(request.headers.getlist("x-forwarded-for")), gateway.settings.trusted_proxies)
    if route.rate_limited:
        gateway.open_limits.check(ip)
    app = await gateway.callers.check(route, request.headers.get("authorization"))
    # The service believes the caller's address, and an app's identity, only with the gateway's internal
    # token (cached: minted once a minute per service, not per request).
    added = {"X-Forwarded-For": ip, "X-Request-ID": current_request_id() or "",
             INTERNAL_AUTH_HEADER: gateway.internal_auth.token_for(route.upstream.value)}
    if app is not None:
        added[CLIENT_ID_HEADER] = app.client_id
    # An app's secret stays here: the service learns who the app is, not its key.
    headers = request_headers(request.headers.raw, pass_authorization=app is None, added=added)
    return await gateway.upstreams.forward(route.upstream, request, headers)
