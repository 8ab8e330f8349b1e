"""The gateway's own endpoints, and the one route that forwards everything in the route table."""

from __future__ import annotations

import asyncio
import functools
import importlib.resources
import ipaddress

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from twofold_common.errors import Forbidden, NotFound, Problem, problem_responses
from twofold_common.http import name_route
from twofold_common.internal_auth import CLIENT_ID_HEADER, INTERNAL_AUTH_HEADER
from twofold_common.kafka import broker_reachable
from twofold_common.logging import current_request_id
from twofold_common.runtime import stopping_answer

from .deps import Gateway, GatewayDep
from .proxy import caller_address, request_headers
from .routes import ROUTES, Policy, Upstream

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


# /docs: Swagger UI (5.x, which reads OpenAPI 3.1) from its Python package (fastapi-swagger), not from a
# CDN: the page works where the deployment has no internet, loads nothing from a third party, and runs no
# inline script.
SWAGGER_UI = importlib.resources.files("fastapi_swagger.resources")
DOCS_ASSETS = {"swagger-ui.css": "text/css", "swagger-ui-bundle.js": "text/javascript",
               "favicon-32x32.png": "image/png"}
DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Twofold API</title>
<link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
<link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/start.js"></script>
</body>
</html>
"""
DOCS_START = """window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true,
                               presets: [SwaggerUIBundle.presets.apis], layout: "BaseLayout"});
});
"""
# Swagger UI sets style attributes, hence 'unsafe-inline' for styles only; scripts come from here alone.
DOCS_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
               "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


@router.get("/docs", include_in_schema=False)
async def docs() -> HTMLResponse:
    return HTMLResponse(DOCS_PAGE, headers={"Content-Security-Policy": DOCS_POLICY})


@router.get("/docs/{name}", include_in_schema=False)
async def docs_asset(name: str) -> Response:
    if name == "start.js":
        return Response(DOCS_START, media_type="text/javascript")
    if name not in DOCS_ASSETS:
        raise NotFound("No such file of the API's documentation page.", code="not-found")
    return Response(_docs_asset(name), media_type=DOCS_ASSETS[name])


@functools.cache
def _docs_asset(name: str) -> bytes:
    return (SWAGGER_UI / name).read_bytes()


@router.api_route("/{path:path}", methods=FORWARDED_METHODS, include_in_schema=False)
async def forward(request: Request, gateway: GatewayDep) -> Response:
    """Route table, then the per-ip limit, then the caller's credentials; only then the service."""
    route = ROUTES.find(request.method, request.scope["path"])
    name_route(request.scope, route.path)  # its metrics count the table's template, not this catch-all's
    forwarded_for = ", ".join(request.headers.getlist("x-forwarded-for"))
    if (pages := request.headers.get(INTERNAL_AUTH_HEADER)) is not None:
        ip = _person_of_pages(gateway, pages, forwarded_for)
    else:
        ip = caller_address(request.client.host if request.client else None, forwarded_for,
                            gateway.settings.trusted_proxies)
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
    headers = request_headers(request.headers.raw, pass_authorization=app is None, added=added,
                              pass_cookies=route.policy is Policy.PAGE)
    return await gateway.upstreams.forward(route.upstream, request, headers)


def _person_of_pages(gateway: Gateway, token: str, forwarded_for: str) -> str:
    """The web service calls the API for the person whose pages it serves and names their address, which the
    gateway believes from it alone: its own internal token proves it is the web service.  The person then
    meets the same per-address limits as any caller of the API."""
    if gateway.internal_auth.verify(token) != "web":
        raise Forbidden("Internal credentials of a service that does not call the public API.", code="internal-auth")
    address = forwarded_for.rsplit(",", 1)[-1].strip()
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        raise Problem("The pages name the person's address in X-Forwarded-For.", code="invalid-forwarded-for",
                      status=400) from None
