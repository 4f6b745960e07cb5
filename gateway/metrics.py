"""The gateway's Prometheus metrics and trace context.

:class:`GatewayMetrics` is one typed bundle on an injected registry (tests pass
a fresh ``CollectorRegistry``). :class:`RequestObservability`, a plain ASGI
middleware, does two things per HTTP request:

- counts it by method, route *template* (``/api/v1/cases/{case_id}``, never the
  raw path, so ids do not explode the label set; ``unmatched`` for 404s that hit
  no route) and status, and times it;
- continues the caller's W3C ``traceparent`` (or starts a trace), binds its trace
  id to the log context, and keeps the ``traceparent`` for the request, which
  the intake routes put on the CloudEvents they publish
  (:func:`request_traceparent`), so the worker's stages log the same trace id.

The registry is served by :func:`serve_metrics` on a port of its own
(``GRIDHUB_METRICS_PORT``), never on the API port: request counts per route are
for Prometheus, not for whoever reaches the API.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass

from fastapi import FastAPI
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    start_http_server,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from schemas import trace

HTTP_SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
UNMATCHED = "unmatched"
TRACEPARENT_HEADER = trace.TRACEPARENT.encode()

_traceparent: ContextVar[str | None] = ContextVar("gridhub_traceparent", default=None)


@dataclass(frozen=True)
class GatewayMetrics:
    registry: CollectorRegistry
    requests: Counter
    request_seconds: Histogram
    in_flight: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry, prefix: str = "gridhub") -> GatewayMetrics:
        p = prefix.replace("-", "_").replace(".", "_")
        return cls(
            registry=registry,
            requests=Counter(
                f"{p}_http_requests",
                "HTTP requests by method, route template and status",
                ["method", "route", "status"],
                registry=registry,
            ),
            request_seconds=Histogram(
                f"{p}_http_request_seconds",
                "HTTP request duration by method and route template",
                ["method", "route"],
                buckets=HTTP_SECONDS_BUCKETS,
                registry=registry,
            ),
            in_flight=Gauge(
                f"{p}_http_requests_in_flight", "HTTP requests being served", registry=registry
            ),
        )


def process_registry() -> CollectorRegistry:
    """A registry with the process and platform collectors (CPU, memory, fds,
    Python version): what a process-wide registry would carry, without the
    global one, so building several apps (tests) never collides."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    return registry


def request_traceparent() -> str:
    """The ``traceparent`` of the request being served (a new trace outside one)."""
    return _traceparent.get() or trace.new_traceparent()


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return str(path) if path else UNMATCHED


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


class RequestObservability:
    """ASGI middleware: request metrics by route template, and the trace context."""

    def __init__(self, app: ASGIApp, metrics: GatewayMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        traceparent = trace.ensure_traceparent(_header(scope, TRACEPARENT_HEADER))
        token = _traceparent.set(traceparent)
        trace.bind(trace_id=trace.parse_traceparent(traceparent))
        status = 500  # unless the app answers
        started = time.perf_counter()

        async def tracking_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        m = self.metrics
        m.in_flight.inc()
        try:
            await self.app(scope, receive, tracking_send)
        finally:
            m.in_flight.dec()
            method, route = scope.get("method", "GET"), _route_template(scope)
            m.request_seconds.labels(method, route).observe(time.perf_counter() - started)
            m.requests.labels(method, route, str(status)).inc()
            trace.clear()
            _traceparent.reset(token)


def install(app: FastAPI, registry: CollectorRegistry | None = None) -> GatewayMetrics:
    """Add the middleware to ``app``; returns the bundle (``app.state.metrics``)."""
    metrics = GatewayMetrics.create(registry if registry is not None else process_registry())
    app.add_middleware(RequestObservability, metrics=metrics)
    app.state.metrics = metrics
    return metrics


def serve_metrics(registry: CollectorRegistry, host: str, port: int) -> Callable[[], None]:
    """``GET /metrics`` of ``registry`` on ``host:port`` (prometheus_client's own
    server, in a daemon thread); returns the function that stops it."""
    server, thread = start_http_server(port, addr=host, registry=registry)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop
