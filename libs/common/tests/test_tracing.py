"""Tracing (twofold_common.tracing): off unless a collector is named, and then nothing of it on a request's path;
on, a service continues its caller's trace and passes it on. A service process (tests/tracing_app.py) answers a
caller that sends a trace context, calling a peer that records what it is sent."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from opentelemetry import trace

from twofold_common.events import CloudEvent, UserDeleted
from twofold_common.testing.collector import Collector
from twofold_common.tracing import context_of

APP = str(Path(__file__).with_name("tracing_app.py"))
CALLER_TRACE, CALLER_SPAN = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"  # tracing_app.CALLER


class Peer:
    """Answers every request with ``{}`` and keeps each request's headers."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")[1:]
        self.requests.append({name.lower(): value for name, _, value in
                              (line.partition(": ") for line in head if line)})
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n"
                     b"Connection: close\r\n\r\n{}")
        await writer.drain()
        writer.close()


@pytest.fixture
async def peer() -> AsyncIterator[tuple[Peer, str]]:
    recorder = Peer()
    server = await asyncio.start_server(recorder.handle, "127.0.0.1", 0)
    yield recorder, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    server.close()
    await server.wait_closed()


async def one_call(peer_url: str, env: dict[str, str]) -> dict:
    process = await asyncio.create_subprocess_exec(
        sys.executable, APP, peer_url, env={"PATH": "/usr/bin:/bin", **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    return json.loads(out.decode().strip().splitlines()[-1])


async def test_with_tracing_off_no_trace_context_is_added_or_passed_on_and_no_provider_is_installed(peer) -> None:
    recorder, url = peer
    seen = await one_call(url, {})
    assert seen == {"context": {}, "sdk": False, "provider": "ProxyTracerProvider",
                    "middleware": ["RequestContextMiddleware"]}
    [called] = recorder.requests
    assert "traceparent" not in called and "tracestate" not in called  # not its own, not its caller's
    assert UserDeleted(user_id="8e1b8a43-2bd9-4a0c-9b6a-4b8e2c1d3f00").envelope("/t").model_dump().keys() == {
        "specversion", "id", "source", "type", "time", "subject", "datacontenttype", "data"}


async def test_with_tracing_on_a_service_continues_its_callers_trace_and_passes_it_on(peer) -> None:
    recorder, url = peer
    collector = await Collector().start()
    try:
        seen = await one_call(url, {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url})
    finally:
        await collector.stop()  # the process sent its spans as it stopped
    [span] = collector.spans
    assert (span.service, span.name, span.kind) == ("plain", "GET /call", "server")
    assert (span.trace_id, span.parent_id) == (CALLER_TRACE, CALLER_SPAN)
    assert span.attributes == {"http.request.method": "GET", "http.route": "/call", "http.response.status_code": 200}
    context = f"00-{CALLER_TRACE}-{span.span_id}-01"  # its own span's, as the route and the peer saw it
    assert seen["context"] == {"traceparent": context}
    assert recorder.requests[0]["traceparent"] == context
    # its own provider, not the process-wide one that FastAPI's telemetry would follow
    assert (seen["sdk"], seen["provider"]) == (True, "ProxyTracerProvider")


def test_a_malformed_trace_context_is_no_parent_and_no_poison() -> None:
    for malformed in ("", "garbage", f"00-{'0' * 32}-{CALLER_SPAN}-01", f"00-{CALLER_TRACE}-{CALLER_SPAN}"):
        assert not trace.get_current_span(context_of({"traceparent": malformed})).get_span_context().is_valid
    envelope = UserDeleted(user_id="8e1b8a43-2bd9-4a0c-9b6a-4b8e2c1d3f00").envelope(
        "/t", trace={"traceparent": "garbage"})
    assert CloudEvent.model_validate_json(envelope.model_dump_json()).traceparent == "garbage"


def test_the_collector_is_named_by_the_standard_variables() -> None:
    spec = importlib.util.spec_from_file_location("tracing_app", APP)
    assert spec is not None and spec.loader is not None
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    PlainSettings = app.PlainSettings  # noqa: N806 (a class)
    assert PlainSettings().traces_endpoint is None
    base = PlainSettings(OTEL_EXPORTER_OTLP_ENDPOINT="http://collector:4318/")
    assert base.traces_endpoint == "http://collector:4318/v1/traces"
    own = PlainSettings(OTEL_EXPORTER_OTLP_ENDPOINT="http://collector:4318",
                        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="https://traces.example/otlp")
    assert own.traces_endpoint == "https://traces.example/otlp"
    with pytest.raises(ValueError, match="OTEL_EXPORTER_OTLP_ENDPOINT must be an http:// or https:// URL"):
        PlainSettings(OTEL_EXPORTER_OTLP_ENDPOINT="collector:4318")
