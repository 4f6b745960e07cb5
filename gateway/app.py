"""``create_app``: the FastAPI application, wired from a :class:`GatewayDeps`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError

from gateway.deps import GatewayDeps
from gateway.errors import BodySizeLimit, validation_error_handler
from gateway.routes import cases, meta, reference, reports


def _version() -> str:
    try:
        return version("gridhub")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0.0.0"


def create_app(deps: GatewayDeps) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await deps.publisher.start()
        app.state.started = True
        try:
            yield
        finally:
            app.state.started = False
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
    app.add_middleware(BodySizeLimit, max_bytes=deps.max_body_bytes)
    for module in (reports, cases, reference, meta):
        app.include_router(module.router)
    return app
