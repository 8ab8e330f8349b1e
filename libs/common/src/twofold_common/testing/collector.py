"""An OpenTelemetry collector for tests: takes what the services' exporters send (OTLP/HTTP, protobuf, at
``/v1/traces``) on a real port, on the test's event loop, and keeps the spans to read.

Services in the test's process and service processes alike export to it: set ``OTEL_EXPORTER_OTLP_ENDPOINT`` to
``collector.url`` in their settings (and ``OTEL_BSP_SCHEDULE_DELAY`` low, or a batch waits 5 s to leave).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan


@dataclass(frozen=True)
class ReceivedSpan:
    service: str  # the resource's service.name
    name: str
    kind: str  # "server", "producer", "consumer", ...
    trace_id: str  # hex, as in a traceparent
    span_id: str
    parent_id: str  # "" for a trace's root
    attributes: dict[str, Any]
    links: tuple[tuple[str, str], ...]  # (trace id, span id) of each link
    error: bool


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


def _attributes(pairs: list[KeyValue]) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs}


def _kind(span: ProtoSpan) -> str:
    return ProtoSpan.SpanKind.Name(span.kind).removeprefix("SPAN_KIND_").lower()


@dataclass
class Collector:
    spans: list[ReceivedSpan] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    _port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    async def start(self) -> Collector:
        app = web.Application()
        app.router.add_post("/v1/traces", self._receive)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _receive(self, request: web.Request) -> web.Response:
        export = ExportTraceServiceRequest.FromString(await request.read())
        for resource_spans in export.resource_spans:
            service = str(_attributes(list(resource_spans.resource.attributes)).get("service.name", ""))
            for scope_spans in resource_spans.scope_spans:
                self.spans.extend(
                    ReceivedSpan(service=service, name=span.name, kind=_kind(span), trace_id=span.trace_id.hex(),
                                 span_id=span.span_id.hex(), parent_id=span.parent_span_id.hex(),
                                 attributes=_attributes(list(span.attributes)),
                                 links=tuple((link.trace_id.hex(), link.span_id.hex()) for link in span.links),
                                 error=span.status.code == span.status.STATUS_CODE_ERROR)
                    for span in scope_spans.spans)
        return web.Response(body=ExportTraceServiceResponse().SerializeToString(),
                            content_type="application/x-protobuf")

    def find(self, **match: str) -> list[ReceivedSpan]:
        """The spans whose fields equal ``match`` (``service="auth", kind="consumer"``)."""
        return [span for span in self.spans if all(getattr(span, key) == value for key, value in match.items())]
