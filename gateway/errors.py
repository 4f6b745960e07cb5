"""Error bodies: 422 that names each field plainly, and a 413 body-size guard."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.types import ASGIApp, Message, Receive, Scope, Send


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
