"""A service built only from twofold_common that calls a peer once, for the tracing tests.

``python tracing_app.py <peer url>`` builds the app (tracing on when OTEL_EXPORTER_OTLP_ENDPOINT is set), runs its
lifespan, sends it ``GET /call`` as a caller with a trace context of its own would, and prints as JSON what the
process holds then: the trace context the route saw, whether the OpenTelemetry SDK was loaded, the process-wide
tracer provider and the app's middleware. Its lifespan's end sends the spans.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any, ClassVar

import httpx
from fastapi import APIRouter
from opentelemetry import trace

from twofold_common.peer import PeerClient
from twofold_common.runtime import create_service_app
from twofold_common.settings import ServiceSettings
from twofold_common.tracing import trace_context

CALLER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


class PlainSettings(ServiceSettings):
    service_name: ClassVar[str] = "plain"
    uses_broker: ClassVar[bool] = False

    def _needs_database(self) -> bool:
        return False


async def main(peer_url: str) -> None:
    router = APIRouter()

    @router.get("/call")
    async def call() -> dict[str, str]:
        async with PeerClient("peer", peer_url, timeout=5) as peer:
            await peer.get("/anything")
        return trace_context()

    app = create_service_app(PlainSettings(metrics_port=0), title="plain", routers=[router])
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                                                   base_url="http://plain") as client:
        seen: Any = (await client.get("/call?secret=not-for-spans", headers={"traceparent": CALLER})).json()
    print(json.dumps({"context": seen, "sdk": "opentelemetry.sdk" in sys.modules,
                      "provider": type(trace.get_tracer_provider()).__name__,
                      "middleware": [middleware.cls.__name__ for middleware in app.user_middleware]}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
