"""Prometheus metrics: each service app has a registry of its own, served on a listener of its own.

The listener is not the service's port: ``/metrics`` answers on ``<PREFIX>_METRICS_PORT`` (by default the
service's port + 1000; ``0``: no listener), a port the gateway never forwards to and the network policies open to
the monitoring namespace only. A registry per app, not the process-wide default: the suite runs five services
in one process, and each must count its own requests.

Every service gets the same metrics from ``create_service_app``: HTTP requests by route template and status
class and their latency (``http.RequestContextMiddleware``), the database pool, the outbox's backlog, the
consumer's lag and dead letters. A service adds its domain counters with ``counter`` and ``histogram``. What
costs a query (the outbox backlog) or depends on another object's state (the pool, the lag) is read when
Prometheus scrapes, never on a request's path. No label carries a user id, an email, a token or a raw path.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest

if TYPE_CHECKING:
    from aiohttp import web

    from .consumer import EventConsumer
    from .db import Database

log = logging.getLogger(__name__)

# the text format every Prometheus version reads
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# a request's latency, from a cached answer to a slow upstream
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# what a scrape waits for a value it reads (the outbox backlog's query) before it answers without it
SCRAPE_READ_TIMEOUT = 2.0
_STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
# any other method a client sends is counted as "other": a label's values stay few
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# the route label of a request no route matched (a 404, or a 405 before any route)
UNMATCHED = "unmatched"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)  # CPU seconds, resident memory, open fds of the process
        self._on_scrape: list[Callable[[], Awaitable[None]]] = []
        self.http_requests = self.counter(
            "twofold_http_requests_total", "HTTP requests answered, by route template and status class",
            ["method", "route", "status_class"])
        self.http_duration = self.histogram(
            "twofold_http_request_duration_seconds", "Time from a request's arrival to its answer's end",
            ["method", "route"], buckets=LATENCY_BUCKETS)

    def counter(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Counter:
        return Counter(name, documentation, labels, registry=self.registry)

    def gauge(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Gauge:
        return Gauge(name, documentation, labels, registry=self.registry)

    def histogram(self, name: str, documentation: str, labels: Sequence[str] = (), *,
                  buckets: Sequence[float] = LATENCY_BUCKETS) -> Histogram:
        return Histogram(name, documentation, labels, registry=self.registry, buckets=buckets)

    def on_scrape(self, read: Callable[[], Awaitable[None]]) -> None:
        """``read`` sets its gauges before each scrape answers (within ``SCRAPE_READ_TIMEOUT``)."""
        self._on_scrape.append(read)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        method = method if method in _METHODS else "other"
        status_class = _STATUS_CLASSES[status // 100 - 1] if 100 <= status < 600 else "other"
        self.http_requests.labels(method, route, status_class).inc()
        self.http_duration.labels(method, route).observe(seconds)

    async def exposition(self) -> bytes:
        for read in self._on_scrape:
            try:
                await asyncio.wait_for(read(), SCRAPE_READ_TIMEOUT)
            except Exception as exc:  # the database away: the scrape still answers, with what it knows
                log.warning("a metric could not be read for this scrape", extra={"error": repr(exc)})
        return generate_latest(self.registry)

    def watch_database(self, db: Database) -> None:
        """The pool's use, and the outbox's unpublished events and the age of the oldest (NaN: unknown)."""
        from .outbox import backlog

        self.gauge("twofold_db_pool_checked_out_connections",
                   "Database connections in use by a request, an event or a job").set_function(
            lambda: db.engine.pool.checkedout())  # type: ignore[attr-defined]
        self.gauge("twofold_db_pool_size_connections",
                   "Database connections the pool holds at most").set_function(
            lambda: db.engine.pool.size())  # type: ignore[attr-defined]
        unpublished = self.gauge("twofold_outbox_unpublished_events", "Events committed but not yet on the broker")
        oldest = self.gauge("twofold_outbox_oldest_unpublished_age_seconds",
                            "How long the oldest unpublished event has waited (0: none waits)")

        async def read() -> None:
            unpublished.set(math.nan)
            oldest.set(math.nan)
            count, age = await backlog(db)
            unpublished.set(count)
            oldest.set(age)

        self.on_scrape(read)

    def dead_letters(self) -> Counter:
        return self.counter("twofold_events_dead_lettered_total",
                            "Events the consumer gave up on and sent to its dead-letter topic",
                            ["group", "event_type"])

    def watch_consumer(self, consumer: EventConsumer) -> None:
        """Per topic, how far the consumer's positions are behind the partitions' ends (what this replica holds)."""
        lag = self.gauge("twofold_consumer_lag_events", "Events on the broker the consumer has not fetched yet",
                         ["group", "topic"])

        async def read() -> None:
            lag.clear()  # a topic whose partitions this replica does not hold (or not yet) reports nothing
            for topic, behind in (await consumer.lag()).items():
                lag.labels(consumer.group_id, topic).set(behind)

        self.on_scrape(read)


class MetricsListener:
    """``GET /metrics`` on a port of its own, served on the service's event loop (aiohttp's server: no thread,
    so a scrape reads async values directly). A port that cannot be bound is logged, and the service runs on
    without it: the scrape's ``up == 0`` is the alert."""

    def __init__(self, metrics: Metrics, host: str, port: int) -> None:
        self.metrics = metrics
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        if not self.port:
            return  # metrics turned off
        from aiohttp import web  # the server side of aiohttp, imported by the services that serve only

        async def serve(request: web.Request) -> web.Response:
            return web.Response(body=await self.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE})

        app = web.Application()
        app.router.add_get("/metrics", serve)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except OSError as exc:
            log.error("the metrics listener cannot listen", extra={"port": self.port, "error": repr(exc)})
            await runner.cleanup()
            return
        self._runner = runner
        log.info("metrics listener started", extra={"port": self.port})

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
