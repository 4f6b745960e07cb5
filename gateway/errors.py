"""Error bodies: 422 that names each field plainly, a 413 body-size guard, and 503
when the database cannot be reached (instead of a 500 or a hanging request)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sinks.db import is_database_outage

log = logging.getLogger(__name__)

DATABASE_UNAVAILABLE = (
    "the database is unavailable right now, so this cannot be read or checked; "
    "reports already accepted are kept and processed when it is back. Retry later."
)
DATABASE_RETRY_AFTER_SECONDS = 5


class ErrorOut(BaseModel):
    detail: str


class FieldError(BaseModel):
    field: str
    message: str


class ValidationErrorOut(BaseModel):
    detail: list[dict[str, Any]]
    errors: list[FieldError]


def field_name(loc: Sequence[Any]) -> str:
    return ".".join(str(part) for part in loc) or "body"


Problem = tuple[tuple[str, ...], str, Any]  # (loc, message, offending input)


def invalid_fields(problems: Sequence[Problem]) -> RequestValidationError:
    """A 422 for rules checked after parsing (district data), same shape as pydantic's."""
    return RequestValidationError(
        [
            {"type": "value_error", "loc": loc, "msg": message, "input": value}
            for loc, message, value in problems
        ]
    )


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, RequestValidationError):  # registered for this type only
        raise exc
    details = exc.errors()
    flat = [
        {"field": field_name(err.get("loc", ())), "message": str(err.get("msg", ""))}
        for err in details
    ]
    return JSONResponse(
        status_code=422, content={"detail": jsonable_encoder(details), "errors": flat}
    )


def too_large(limit: int) -> str:
    return f"request body exceeds the limit of {limit} bytes"


class BodySizeLimit:
    """Answers 413 when Content-Length, or the streamed body, exceeds ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = _limit_for(scope, self.max_bytes)
        declared = _content_length(scope)
        if declared is not None:
            if declared > limit:
                response = JSONResponse({"detail": too_large(limit)}, status_code=413)
                await response(scope, receive, send)
                return
            # The server holds the body to its declared length: nothing to count.
            await self.app(scope, receive, send)
            return

        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # FastAPI re-raises HTTPException from body reading as-is.
                    raise HTTPException(status_code=413, detail=too_large(limit))
            return message

        await self.app(scope, counting_receive, send)


def _limit_for(scope: Scope, default: int) -> int:
    """A path may have its own limit (uploads): ``GatewayDeps.body_limit``."""
    state = getattr(scope.get("app"), "state", None)
    body_limit = getattr(getattr(state, "deps", None), "body_limit", None)
    if callable(body_limit):
        return int(body_limit(str(scope.get("path", ""))))
    return default


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def database_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """503 with a plain message and ``Retry-After``; the driver's text (host, port)
    goes to the log only."""
    if not is_database_outage(exc):  # a DBAPIError that is a bug, not an outage
        raise exc
    log.warning(
        "database unavailable for %s %s: %s: %s",
        request.method,
        request.url.path,
        type(exc).__name__,
        str(exc).splitlines()[0] if str(exc) else "",
    )
    return JSONResponse(
        status_code=503,
        content={"detail": DATABASE_UNAVAILABLE},
        headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
    )


def install_database_errors(app: FastAPI) -> None:
    """Answer 503 (not 500) on every route whose database is unreachable."""
    for kind in (DBAPIError, PoolTimeoutError):
        app.add_exception_handler(kind, database_error_handler)
