"""``create_app``: the FastAPI application, wired from a :class:`GatewayDeps`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from prometheus_client import CollectorRegistry

from gateway import metrics
from gateway.deps import Follower, GatewayDeps
from gateway.errors import BodySizeLimit, install_database_errors, validation_error_handler
from gateway.routes import ROUTERS
from gateway.routes.pages import STATIC_PATH, static_files

log = logging.getLogger(__name__)


def _version() -> str:
    try:
        return version("gridhub")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0.0.0"


async def _stop(part: Follower) -> None:
    try:
        await part.stop()
    except Exception:  # stopping must go on for the others
        log.exception("stopping %s failed", type(part).__name__)


def create_app(deps: GatewayDeps, *, registry: CollectorRegistry | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The publisher, then the followers (command results, case feed); stopped
        # in reverse, also when a later one fails to start.
        async with AsyncExitStack() as running:
            for part in (deps.publisher, *deps.followers):
                await part.start()
                running.push_async_callback(_stop, part)
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
        docs_url="/docs",
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
    # Request metrics by route template and trace context as the outermost
    # middleware, and GET /metrics on ``registry`` (default: a fresh one with the
    # process collectors).
    metrics.install(app, registry)
    return app
