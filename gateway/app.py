"""``create_app``: the FastAPI application, wired from a :class:`GatewayDeps`.

Its metrics are counted on ``registry`` but not served here: ``/metrics`` is on
its own port (``gridhub gateway``, ``GRIDHUB_METRICS_PORT``), never on the API
port. ``/docs`` (Swagger UI, which loads its assets from a CDN) is served in dev
only; ``/openapi.json`` always."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from prometheus_client import CollectorRegistry
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from gateway import metrics
from gateway.deps import Follower, GatewayDeps
from gateway.errors import BodySizeLimit, install_database_errors, validation_error_handler
from gateway.routes import BODY_MODELS, ROUTERS
from gateway.routes.pages import STATIC_PATH, static_files

log = logging.getLogger(__name__)


def _version() -> str:
    try:
        return version("gridhub")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0.0.0"


def _serve_metrics(app: FastAPI, address: tuple[str, int]) -> Callable[[], None] | None:
    """``/metrics`` of this app on its own port (never the API port). With several
    server processes on one host only the first to bind the port serves it: the
    others' metrics are not scraped (prometheus_client's multiprocess mode would
    join them; not done)."""
    host, port = address
    try:
        return metrics.serve_metrics(app.state.metrics.registry, host, port)
    except OSError as exc:
        log.info(
            "metrics port %s:%d taken (a sibling server process serves it): %s", host, port, exc
        )
        return None


async def _stop(part: Follower) -> None:
    try:
        await part.stop()
    except Exception:  # stopping must go on for the others
        log.exception("stopping %s failed", type(part).__name__)


def create_app(
    deps: GatewayDeps, *, registry: CollectorRegistry | None = None, freeze_heap: bool = False
) -> FastAPI:
    """The application. ``freeze_heap`` (a server process, not a test): once started,
    everything alive so far (routes, models, the district's rules, clients) moves to
    the collector's permanent generation, so the collections that requests' short-lived
    objects trigger never walk it again."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The publisher, then the followers (command results, case feed); stopped
        # in reverse, also when a later one fails to start.
        async with AsyncExitStack() as running:
            for part in (deps.publisher, *deps.followers):
                await part.start()
                running.push_async_callback(_stop, part)
            if deps.metrics_address is not None:
                stop = _serve_metrics(app, deps.metrics_address)
                if stop is not None:
                    running.callback(stop)
            if freeze_heap:
                gc.collect()
                gc.freeze()
                running.callback(gc.unfreeze)
            app.state.started = True
            try:
                yield
            finally:
                app.state.started = False

    app = FastAPI(
        title="GridHub",
        version=_version(),
        description="Event hub of the district social-governance information centre.",
        openapi_url="/openapi.json",
        docs_url="/docs" if deps.docs else None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.deps = deps
    app.state.started = False
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    install_database_errors(app)  # an unreachable database answers 503, not 500
    app.add_middleware(BodySizeLimit, max_bytes=deps.max_body_bytes)
    for router in ROUTERS:
        app.include_router(router)
    app.mount(STATIC_PATH, static_files(), name="static")
    _document_bodies(app, BODY_MODELS)
    # Request metrics by route template and trace context as the outermost
    # middleware, counted on ``registry`` (default: a fresh one with the process
    # collectors).
    metrics.install(app, registry)
    return app


def _document_bodies(app: FastAPI, models: tuple[type[BaseModel], ...]) -> None:
    """Add ``models`` (and the models they nest) to the OpenAPI components: routes
    that read their body themselves refer to them there."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            _, defs = models_json_schema(
                [(model, "validation") for model in models],
                ref_template="#/components/schemas/{model}",
            )
            components = document.setdefault("components", {}).setdefault("schemas", {})
            for name, schema in defs.get("$defs", {}).items():
                components.setdefault(name, schema)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
