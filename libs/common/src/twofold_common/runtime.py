"""Everything a service holds while it runs, created in the lifespan and nowhere else.

``create_service_app`` builds the FastAPI app with the shared edge (problem
errors, request ids, access log, body limit, request metrics, and server spans
when tracing is on), ``/healthz`` and ``/readyz``, and a lifespan that starts
the tracer and the metrics listener, opens the database, starts the outbox
relay and the event consumer, and on shutdown stops consuming, flushes the
outbox, closes the pools and sends the last spans, in that order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Header, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession

from .consumer import EventConsumer, Handler
from .db import Database
from .errors import ProblemDetail, Unauthorized, database_unavailable_openapi, install_problem_handlers
from .events import Event
from .http import Draining, RequestContextMiddleware
from .internal_auth import CLIENT_ID_HEADER, INTERNAL_AUTH_HEADER, InternalAuth, internal_caller
from .jobs import Job, run_periodically
from .kafka import ProducerHolder, broker_reachable, dead_letter_topic, ensure_topics
from .metrics import Metrics, MetricsListener
from .outbox import OutboxRelay
from .retention import event_retention_job
from .settings import ServiceSettings
from .tracing import Tracing, TracingMiddleware

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class Runtime:
    settings: ServiceSettings
    internal_auth: InternalAuth
    producer: ProducerHolder
    metrics: Metrics  # the app's registry: a service adds its domain counters to it in ``on_start``
    db: Database | None = None
    relay: OutboxRelay | None = None
    consumer: EventConsumer | None = None
    tasks: list[asyncio.Task] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def database(self) -> Database:
        if self.db is None:
            raise RuntimeError(f"{self.settings.service_name} has no database")
        return self.db

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        """A background task, awaited (then cancelled) at shutdown; watch ``stopping`` to end early."""
        self.tasks.append(asyncio.create_task(coro, name=name))

    def every(self, interval: float, name: str, job: Job) -> None:
        """A periodic job that runs once per interval across all replicas (``twofold_common.jobs``)."""
        self.spawn(run_periodically(self.database, name, job, interval, self.stopping), f"job-{name}")

    def provide(self, *services: object) -> None:
        """Keep the service's domain services, built once at the start, for ``provided``."""
        for service in services:
            self.state[type(service).__name__] = service


# Dependencies are ``async def`` though they never wait: FastAPI runs a plain ``def``
# dependency in its thread pool, a thread hop per request for nothing.


async def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def provided(cls: type[T]) -> Any:
    """A route's dependency on the one ``cls`` the service built at its start (``Runtime.provide``):
    ``LoginDep = Annotated[Login, provided(Login)]``."""

    async def dependency(runtime: RuntimeDep) -> T:
        return runtime.state[cls.__name__]

    return Depends(dependency)


async def _internal_auth(runtime: RuntimeDep) -> InternalAuth:
    return runtime.internal_auth


async def calling_app(
    runtime: RuntimeDep,
    internal: Annotated[str | None, Header(alias=INTERNAL_AUTH_HEADER)] = None,
    client_id: Annotated[str | None, Header(alias=CLIENT_ID_HEADER)] = None,
) -> str | None:
    """The third-party app the gateway authenticated, or None when no app is named.

    The client id header is believed only with the gateway's internal token: anyone
    else who sets it gets a 401.
    """
    if client_id is None:
        return None
    if internal is None or runtime.internal_auth.verify(internal) != "gateway":
        raise Unauthorized("App calls come through the gateway.", code="unauthenticated")
    return client_id


CallingAppDep = Annotated[str | None, Depends(calling_app)]


def internal_only(*allowed: str) -> Any:
    """Router/route dependency: only the listed services may call (``dependencies=[internal_only("auth")]``)."""
    return Depends(internal_caller(_internal_auth, allowed))


async def _session(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    """One transaction per request, committed before the response is sent."""
    async with runtime.database.transaction() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(_session, scope="function")]


def stopping_answer(request: Request) -> JSONResponse | None:
    """``/readyz``'s answer while the process drains before it stops: not ready, whatever else holds."""
    if request.app.state.draining.started:
        return JSONResponse({"status": "stopping", "checks": {}}, status_code=503)
    return None


def _health_router() -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz", summary="The process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", summary="The database and the broker are reachable",
                responses={503: {"description": "A dependency is unreachable"}})
    async def readyz(request: Request, runtime: RuntimeDep) -> JSONResponse:
        if stopping := stopping_answer(request):
            return stopping
        checks: dict[str, str] = {}
        if runtime.db is not None:
            try:
                await asyncio.wait_for(runtime.db.ping(), 2)
                checks["database"] = "ok"
            except Exception:
                checks["database"] = "unreachable"
        if runtime.settings.uses_broker:
            reachable = await broker_reachable(runtime.settings.kafka_bootstrap)
            checks["broker"] = "ok" if reachable else "unreachable"
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ready" if ready else "not-ready", "checks": checks},
                            status_code=200 if ready else 503)

    return router


async def _ensure_topics_then(
    runtime: Runtime, topics: Sequence[str], start: Sequence[Callable[[], Awaitable[None]]]
) -> None:
    """Topics first (retrying while the broker is away), then the relay and the consumer."""
    backoff = 0.5
    while True:
        try:
            await ensure_topics(runtime.settings.kafka_bootstrap, topics,
                                partitions=runtime.settings.kafka_topic_partitions,
                                replication=runtime.settings.kafka_replication_factor,
                                retention_hours=runtime.settings.kafka_topic_retention_hours)
            break
        except Exception as exc:
            log.warning("cannot ensure kafka topics yet", extra={"error": repr(exc), "retry_in": backoff})
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 15.0)
    await asyncio.gather(*(fn() for fn in start))


def create_service_app(
    settings: ServiceSettings,
    *,
    title: str,
    routers: Iterable[APIRouter] = (),
    handlers: Mapping[type[Event], Handler] | None = None,
    publishes: Iterable[type[Event]] = (),
    on_start: Callable[[Runtime], Awaitable[None]] | None = None,
    on_stop: Callable[[Runtime], Awaitable[None]] | None = None,
    **fastapi_kwargs: Any,
) -> FastAPI:
    service = settings.service_name
    group_id = settings.consumer_group or f"twofold-{service}"
    dlq = dead_letter_topic(service)

    tracing = Tracing(service, settings.traces_endpoint) if settings.traces_endpoint else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if tracing is not None:
            tracing.start()
        runtime = Runtime(
            settings=settings,
            internal_auth=InternalAuth(service, settings.internal_key(), settings.internal_key_ring()),
            producer=ProducerHolder(settings.kafka_bootstrap, client_id=service),
            metrics=metrics,
        )
        app.state.runtime = runtime
        starters: list[Callable[[], Awaitable[None]]] = []
        topics = {cls.topic for cls in publishes}
        if settings.database_url:
            runtime.db = Database(settings.database_url, pool_size=settings.database_pool_size)
            metrics.watch_database(runtime.db)
            runtime.relay = OutboxRelay(runtime.db, runtime.producer, tracing=tracing)
            starters.append(runtime.relay.run)
            runtime.every(settings.event_retention_interval_seconds, "event-retention",
                          event_retention_job(settings.outbox_retention_hours,
                                              settings.processed_events_retention_hours))
            if handlers:
                runtime.consumer = EventConsumer(runtime.db, runtime.producer, bootstrap=settings.kafka_bootstrap,
                                                 group_id=group_id, dead_letter_topic=dlq, handlers=handlers,
                                                 dead_letters=metrics.dead_letters(), tracing=tracing)
                metrics.watch_consumer(runtime.consumer)
                topics |= set(runtime.consumer.topics) | {dlq}
                starters.append(runtime.consumer.run)
        if on_start is not None:
            await on_start(runtime)
        if settings.uses_broker:
            runtime.spawn(_ensure_topics_then(runtime, sorted(topics), starters), f"{service}-events")
        listener = MetricsListener(metrics, settings.host, settings.metrics_listen_port)
        await listener.start()
        log.info("service started", extra={"port": settings.port, "metrics_port": settings.metrics_listen_port,
                                           "environment": settings.environment})
        try:
            yield
        finally:
            await _shutdown(runtime, on_stop)
            await listener.stop()
            if tracing is not None:
                await tracing.stop()

    metrics = Metrics()
    # FastAPI's own telemetry off, whatever provider a process sets up: it records paths and queries (tracing.py)
    app = FastAPI(title=title, lifespan=lifespan, telemetry={"tracing": False, "metrics": False, "logs": False},
                  **fastapi_kwargs)
    app.state.metrics = metrics
    app.state.handled_events = tuple(handlers or ())  # for the event catalog's consistency test
    install_problem_handlers(app)
    app.state.draining = Draining()  # started by the server on SIGTERM (cli.DrainingServer)
    app.add_middleware(RequestContextMiddleware, max_body_bytes=settings.max_body_bytes, draining=app.state.draining,
                       metrics=metrics)
    if tracing is not None:  # outside the edge: the span holds the whole answer, a 413 or a 500 of the edge's too
        app.add_middleware(TracingMiddleware, tracing=tracing, continue_callers=not settings.public_edge)
    app.include_router(_health_router())
    for router in routers:
        app.include_router(router)
    if settings.database_url:
        _document_database_outage(app)
    return app


_HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def _document_database_outage(app: FastAPI) -> None:
    """Every API operation of a service with a database may answer its 503 (the health checks say their own)."""
    generate = app.openapi
    health = {route.path for route in _health_router().routes if isinstance(route, APIRoute)}

    def openapi() -> dict[str, Any]:
        document = generate()  # cached by FastAPI: the additions below are made once
        for path, item in document.get("paths", {}).items():
            for method, operation in item.items():
                if path not in health and method in _HTTP_METHODS:
                    operation.setdefault("responses", {}).setdefault("503", database_unavailable_openapi())
        document.setdefault("components", {}).setdefault("schemas", {}).setdefault(
            "ProblemDetail", ProblemDetail.model_json_schema(ref_template="#/components/schemas/{model}"))
        return document

    app.openapi = openapi  # type: ignore[method-assign]


async def _shutdown(runtime: Runtime, on_stop: Callable[[Runtime], Awaitable[None]] | None) -> None:
    """Stop consuming, let the relay finish, flush what is pending, close pools."""
    runtime.stopping.set()
    if runtime.consumer is not None:
        runtime.consumer.stop()
    if runtime.relay is not None:
        runtime.relay.stop()
    done, pending = (await asyncio.wait(runtime.tasks, timeout=runtime.settings.shutdown_grace_seconds)
                     if runtime.tasks else (set(), set()))
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    if on_stop is not None:
        await on_stop(runtime)
    if runtime.relay is not None:
        await runtime.relay.flush(timeout=5)
        await runtime.relay.close()
    await runtime.producer.stop()
    if runtime.db is not None:
        await runtime.db.dispose()
    log.info("service stopped")
