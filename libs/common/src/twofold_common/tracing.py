"""OpenTelemetry traces: one trace follows a request across the services, and its events through Kafka.

Off unless a collector is named by the standard variables every OpenTelemetry SDK reads,
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_ENDPOINT`` (``settings.traces_endpoint``). Off,
the SDK and the exporter are never imported, no middleware is installed, and all that is left on a request's
path is ``trace_context`` finding no current span where a call or an event could carry one
(``bench/tracing.py`` measures off against on).

On, each service app has a ``TracerProvider`` of its own (``service.name``: the service's name) exporting over
OTLP/HTTP, never the process-wide one: the suite runs five services in one process, and each names its own
spans (as each has its own metrics registry). FastAPI's own telemetry, which follows the process-wide
provider, stays off (``create_service_app``): it records a request's path and query, and a provider's callback
carries a seed in its query.

The context travels as W3C Trace Context everywhere: ``traceparent``/``tracestate`` HTTP headers between the
services, the CloudEvents Distributed Tracing extension in an event (the context the event was written in,
kept unchanged, as the extension asks for an event that takes several hops), and Kafka headers of the same
names for the hop from the outbox relay to the consumer. The spans:

- a server span per request (health probes aside), ``<METHOD> <route template>``; the gateway's starts every
  trace (``TracingMiddleware``);
- a producer span per event the relay sends, ``send <topic>``, a child of the context the event was written
  in: the trace then shows the wait in the outbox and goes on to the consumer. (A link would start a trace
  per relay batch, and a batch holds events of many requests.)
- a consumer span per event a service handles, ``process <topic>``, a child of the relay's send (the Kafka
  header), or of the event's own context when no relay span was sent with it.

No span carries a path, a query, a header, an address, an event's subject (a user id) or data, a user id or an
email: a route template, a method and a status; a topic, an event's id and type, a consumer group.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .http import route_template
from .metrics import UNMATCHED

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

TRACE_FIELDS = ("traceparent", "tracestate")
_TRACE_HEADERS = tuple(name.encode() for name in TRACE_FIELDS)
# W3C Trace Context only: not the configurable global propagator, which also takes a caller's baggage
_propagator = TraceContextTextMapPropagator()
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# probed every few seconds by Kubernetes and by the gateway: traces of nothing, at a cost
UNTRACED_PATHS = frozenset({"/healthz", "/readyz"})


def trace_context() -> dict[str, str]:
    """The current span's context as ``traceparent`` (and ``tracestate``), the names of the HTTP headers, the
    Kafka headers and the CloudEvents extension alike; empty when no span is current, as always with tracing off."""
    fields: dict[str, str] = {}
    _propagator.inject(fields)
    return fields


def context_of(fields: Mapping[str, str]) -> otel_context.Context:
    """The parent that ``fields`` (``traceparent``, ``tracestate``) name; an empty context when they name none or
    are malformed."""
    return _propagator.extract(fields)


def span_context_fields(span: Span) -> dict[str, str]:
    """``trace_context`` of ``span``, without making it current."""
    fields: dict[str, str] = {}
    _propagator.inject(fields, context=trace.set_span_in_context(span))
    return fields


def failed(span: Span, error: BaseException | str) -> None:
    """Mark ``span`` failed with the error's type alone: an exception's text can quote a URL or a value."""
    span.set_status(StatusCode.ERROR, error if isinstance(error, str) else type(error).__name__)


class Tracing:
    """A service's tracer: a no-op until ``start`` (the service's lifespan) builds the provider and its OTLP
    exporter, flushed by ``stop``."""

    def __init__(self, service: str, endpoint: str) -> None:
        self.service = service
        self.endpoint = endpoint
        self.tracer: trace.Tracer = trace.NoOpTracer()
        self._provider: TracerProvider | None = None

    def start(self) -> None:
        # imported here: a service that does not trace never loads the SDK, protobuf or the exporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        # the sampler and the batching come from the standard variables (OTEL_TRACES_SAMPLER, OTEL_BSP_*)
        provider = TracerProvider(resource=Resource.create({SERVICE_NAME: self.service}), shutdown_on_exit=False)
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=self.endpoint)))
        self._provider = provider
        self.tracer = provider.get_tracer("twofold")

    async def stop(self) -> None:
        """Send the spans still in the batch (within the exporter's timeout), off the event loop."""
        provider, self._provider, self.tracer = self._provider, None, trace.NoOpTracer()
        if provider is not None:
            await asyncio.to_thread(provider.shutdown)


def messaging_attributes(operation: str, topic: str, event_id: str, event_type: str) -> dict[str, Any]:
    """What a producer or consumer span says about one event (never its subject, its key or its data)."""
    return {"messaging.system": "kafka", "messaging.operation.type": operation, "messaging.operation.name": operation,
            "messaging.destination.name": topic, "messaging.message.id": event_id,
            "cloudevents.event_id": event_id, "cloudevents.event_type": event_type}


def _caller_context(headers: Iterable[tuple[bytes, bytes]]) -> otel_context.Context:
    return context_of({name.decode(): value.decode("latin-1") for name, value in headers if name in _TRACE_HEADERS})


class TracingMiddleware:
    """A server span per request (health probes aside), current while the app answers it, named by the route
    template once the app has routed it (never by the path: ids and tokens stand in paths, seeds in a callback's
    query).

    ``continue_callers``: a caller's ``traceparent`` is the span's parent (the services, whose callers are the
    other services); otherwise (the gateway, whose callers are outside) every request starts a trace, and a
    caller's context is only a link, so no outsider decides what is sampled or hides a request from traces.
    """

    def __init__(self, app: ASGIApp, *, tracing: Tracing, continue_callers: bool = True) -> None:
        self.app = app
        self.tracing = tracing
        self.continue_callers = continue_callers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNTRACED_PATHS:
            await self.app(scope, receive, send)
            return
        method = scope["method"] if scope["method"] in _METHODS else "_OTHER"
        caller = _caller_context(scope.get("headers") or ())
        links: tuple[Link, ...] = ()
        if not self.continue_callers:
            given = trace.get_current_span(caller).get_span_context()
            links = (Link(given),) if given.is_valid else ()
            caller = otel_context.Context()
        name = "HTTP" if method == "_OTHER" else method
        span = self.tracing.tracer.start_span(name, context=caller, kind=SpanKind.SERVER, links=links,
                                              attributes={"http.request.method": method})
        status = 0

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        token = otel_context.attach(trace.set_span_in_context(span, caller))
        try:
            await self.app(scope, receive, send_status)
        except BaseException as exc:
            failed(span, exc)
            raise
        finally:
            otel_context.detach(token)
            route = route_template(scope)
            attributes: dict[str, Any] = {"http.response.status_code": status} if status else {}
            if route != UNMATCHED:
                span.update_name(f"{name} {route}")
                attributes["http.route"] = route
            span.set_attributes(attributes)  # at once: each call takes the span's lock
            if status >= 500:
                failed(span, str(status))
            span.end()
