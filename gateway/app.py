"""``create_app``: the FastAPI application, wired from a :class:`GatewayDeps`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from prometheus_client import CollectorRegistry

from gateway import metrics
from gateway.deps import GatewayDeps
from gateway.errors import BodySizeLimit, install_database_errors, validation_error_handler
from gateway.operations import OPERATIONS_ROUTERS, start_operations, stop_operations
from gateway.routes import cases, meta, reference, reports


def _version() -> str:
    try:
        return version("gridhub")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0.0.0"


def create_app(deps: GatewayDeps, *, registry: CollectorRegistry | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await deps.publisher.start()
        # -- operations (issue 4): command-result and case-event followers --
        await start_operations(deps)
        app.state.started = True
        try:
            yield
        finally:
            app.state.started = False
            # -- operations (issue 4) --
            await stop_operations(deps)
            await deps.publisher.stop()

    app = FastAPI(
        title="GridHub",
        version=_version(),
        description="Event hub of the district social-governance information centre.",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.deps = deps
    app.state.started = False
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    install_database_errors(app)  # an unreachable database answers 503, not 500
    app.add_middleware(BodySizeLimit, max_bytes=deps.max_body_bytes)
    for module in (reports, cases, reference, meta):
        app.include_router(module.router)
    # -- operations (issue 4): case actions, media, me, stats, SSE --
    for router in OPERATIONS_ROUTERS:
        app.include_router(router)
    # -- other systems (issue 4): CloudEvents/CAP over HTTP, Open311, admin webhooks --
    from gateway.routes import events, open311, webhooks

    for systems_module in (events, open311, webhooks):
        app.include_router(systems_module.router)

    # -- pages (issue 5): /m/, /console/, /reports/ and their /static/ assets;
    # CSV export of cases, daily briefs as HTML/PDF, profile and department directory --
    from gateway import pages
    from gateway.routes import exports, pagedata

    app.include_router(exports.router)
    app.include_router(pagedata.router)
    pages.install(app)

    # --- observability (gateway.metrics): request metrics by route template and
    # trace context as the outermost middleware, and GET /metrics on ``registry``
    # (default: a fresh one with the process collectors).
    metrics.install(app, registry)
    return app
