"""CPU per request that tracing adds to a service: off, on and recording, and on but sampled out.

    uv run --frozen python bench/tracing.py [--requests 20000]

The same service app as every service's (``create_service_app``: the shared edge, its request metrics, a route
that reads the trace context a call or an event would carry) answers ``GET /items/{item_id}`` called straight
through ASGI, one request after another: no socket, no client, so what differs between the runs is tracing
alone. On, the spans go over OTLP/HTTP to a sink in a process of its own (the collector's CPU is not ours); the
figure is this process's CPU time per request, the exporter's thread and the last flush included.
Also: what ``trace_context`` costs where tracing is off (the one thing it leaves on a call's and an event's path).
"""

from __future__ import annotations

import argparse
import os
import resource
import timeit
from typing import Any, ClassVar

import uvloop
from fastapi import APIRouter, FastAPI
from servers import small_server

from twofold_common.runtime import create_service_app
from twofold_common.settings import ServiceSettings
from twofold_common.tracing import trace_context

SINK = """
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

async def accept(request):
    await request.body()
    return Response(b"", media_type="application/x-protobuf")  # an empty ExportTraceServiceResponse

app = Starlette(routes=[Route("/v1/traces", accept, methods=["POST"])])
"""


CALLER = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"  # a caller's trace context, as services send


class BenchSettings(ServiceSettings):
    service_name: ClassVar[str] = "bench"
    uses_broker: ClassVar[bool] = False

    def _needs_database(self) -> bool:
        return False


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread's: the span exporter's too
    return usage.ru_utime + usage.ru_stime


def app_with(**settings: Any) -> FastAPI:
    router = APIRouter()

    @router.get("/items/{item_id}")
    async def item(item_id: str) -> dict[str, Any]:
        return {"id": item_id, "trace": trace_context()}

    return create_service_app(BenchSettings(metrics_port=0, **settings), title="bench", routers=[router])


async def per_request(app: FastAPI, requests: int) -> float:
    """Microseconds of CPU per request, from the first request to the lifespan's end (the spans' last flush)."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": "/items/42", "raw_path": b"/items/42", "query_string": b"q=1", "root_path": "",
             "headers": [(b"host", b"bench"), (b"traceparent", CALLER)],
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000)}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    statuses: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async with app.router.lifespan_context(app):
        for _ in range(1000):  # warm up: routes compiled, caches filled
            await app(dict(scope), receive, send)
        started = cpu()
        for _ in range(requests):
            await app(dict(scope), receive, send)
    spent = cpu() - started
    assert set(statuses) == {200}, set(statuses)
    return spent / requests * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3, help="each run this many times, alternating; the least counts")
    args = parser.parse_args()
    with small_server(SINK) as url:
        runs = {
            "off (no collector named)": ({}, {}),
            "on, every request recorded and exported": ({"OTEL_EXPORTER_OTLP_ENDPOINT": url},
                                                        {"OTEL_TRACES_SAMPLER": "parentbased_always_on"}),
            "on, sampled out (always_off)": ({"OTEL_EXPORTER_OTLP_ENDPOINT": url},
                                             {"OTEL_TRACES_SAMPLER": "always_off"}),
        }
        figures: dict[str, float] = {}
        for _ in range(args.rounds):  # the machine is shared: alternate, and keep each run's least
            for name, (settings, environment) in runs.items():
                os.environ.update(environment)  # the provider reads its sampler from the environment as it starts
                micros = uvloop.run(per_request(app_with(**settings), args.requests))
                figures[name] = min(figures.get(name, micros), micros)
                for key in environment:
                    del os.environ[key]
        off = figures["off (no collector named)"]
        for name, micros in figures.items():
            added = f", {micros - off:+6.1f} µs against off" if micros is not off else ""
            print(f"{name:42s} {micros:7.1f} µs CPU per request{added}")
        calls = 1_000_000
        seconds = timeit.timeit(trace_context, number=calls)
        print(f"{'trace_context() with no span (off)':42s} {seconds / calls * 1e9:7.0f} ns per call")


if __name__ == "__main__":
    main()
