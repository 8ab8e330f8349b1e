"""The gateway: one public address in front of auth, registration, the vault (apps' code checks) and the pages."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from twofold_common.access_tokens import TokenVerifier
from twofold_common.events import ClientChanged, SessionRevoked
from twofold_common.runtime import Runtime, create_service_app

from . import endpoints
from .api_keys import ApiKeys
from .broadcast import BroadcastListener
from .callers import CallerChecks
from .deps import Gateway
from .limits import TokenBuckets
from .openapi import PublicApiDocument
from .proxy import Upstreams
from .revocations import CLOCK_SKEW_SECONDS, RevokedSessions
from .routes import ROUTES, Upstream
from .settings import GatewaySettings

TITLE = "Twofold API"
VERSION = "1.0.0"
HSTS = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")


class StrictTransportSecurity:
    """In production the public address is https only; browsers are told to remember that."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_hsts(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), HSTS]
            await send(message)

        await self.app(scope, receive, send_with_hsts if scope["type"] == "http" else send)


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()

    own_routes = [*endpoints.readiness.routes, *endpoints.router.routes]

    async def start(runtime: Runtime) -> None:
        own_document = get_openapi(title=TITLE, version=VERSION, routes=own_routes)
        upstreams = Upstreams({Upstream.AUTH: settings.auth_url, Upstream.REGISTRATION: settings.registration_url,
                               Upstream.VAULT: settings.vault_url, Upstream.WEB: settings.web_url},
                              connect_timeout=settings.upstream_connect_timeout,
                              read_timeout=settings.upstream_read_timeout,
                              max_connections=settings.upstream_max_connections)
        auth_internal = runtime.internal_auth.client("auth", settings.auth_url)
        revoked = RevokedSessions(settings.access_token_seconds)
        verifier = TokenVerifier(issuer=settings.token_issuer, audience=settings.token_audience,
                                 jwks_url="/.well-known/jwks.json", http=upstreams.clients[Upstream.AUTH])
        api_keys = ApiKeys(auth_internal, negative_ttl=settings.api_key_negative_cache_seconds)
        refusals = runtime.metrics.counter("twofold_gateway_rate_limited_requests_total",
                                           "Requests the per-address limit refused (429)")
        runtime.state["http"] = [upstreams, auth_internal]
        runtime.state["gateway"] = Gateway(
            settings=settings,
            upstreams=upstreams,
            callers=CallerChecks(verifier, revoked, api_keys),
            open_limits=TokenBuckets(settings.open_rate_per_second, settings.open_burst, refusals=refusals),
            document=PublicApiDocument({u: c for u, c in upstreams.clients.items() if u.has_api}, ROUTES,
                                       own=own_document, title=TITLE, version=VERSION,
                                       refresh_seconds=settings.openapi_refresh_seconds),
            internal_auth=runtime.internal_auth,
        )
        # Every replica hears every revocation, and a fresh one those of the last token lifetime.
        listener = BroadcastListener(settings.kafka_bootstrap, {SessionRevoked: revoked.on_session_revoked},
                                     lookback_seconds=settings.access_token_seconds + CLOCK_SKEW_SECONDS,
                                     client_id="gateway")
        runtime.spawn(listener.run(runtime.stopping), "gateway-revocations")
        # Every replica knows every API client: its topic from the beginning (compacted: each one's latest state).
        clients = BroadcastListener(settings.kafka_bootstrap, {ClientChanged: api_keys.on_client_changed},
                                    lookback_seconds=None, client_id="gateway")
        runtime.spawn(clients.run(runtime.stopping), "gateway-api-clients")

    async def stop(runtime: Runtime) -> None:
        for http in runtime.state["http"]:
            await http.aclose()

    # The gateway's /readyz also reports the services behind it: routes given to the app itself come
    # before the shared ones, so it is the one that answers.
    app = create_service_app(settings, title=TITLE, routers=[endpoints.router], on_start=start, on_stop=stop,
                             routes=list(endpoints.readiness.routes),
                             openapi_url=None, docs_url=None, redoc_url=None)
    # Heard through the broadcast listener, not the shared consumer: declared for the event catalog's check.
    app.state.handled_events = (SessionRevoked, ClientChanged)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                           allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["authorization", "content-type", "x-request-id"],
                           expose_headers=["x-request-id", "retry-after"], max_age=600)
    if settings.production:
        app.add_middleware(StrictTransportSecurity)
    return app
