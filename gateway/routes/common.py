"""What the routes share: response documentation, and for a route that reads its own
request (no parameter solving by FastAPI, on the hot path), its JSON body and
headers with FastAPI's 422 and their OpenAPI documentation."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from gateway.errors import ErrorOut, ValidationErrorOut, invalid_fields

M = TypeVar("M", bound=BaseModel)

# Paging stops well before a database integer overflows (the fuzzer found 2**63).
MAX_OFFSET = 1_000_000

AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "missing, invalid or revoked token"},
    403: {"model": ErrorOut, "description": "the token's role or scope does not allow this"},
    429: {
        "model": ErrorOut,
        "description": "rate limit of this token exceeded (see the Retry-After header)",
        "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}},
    },
}
INVALID: dict[int | str, dict[str, Any]] = {
    422: {"model": ValidationErrorOut, "description": "invalid request"}
}


# -- routes that read their own request (the hot path skips FastAPI's parameter solving)

BEARER_SECURITY: list[dict[str, list[str]]] = [{"bearer": []}]


def json_body_doc(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI ``requestBody`` of a route that reads ``model`` as JSON itself
    (the model is in the components: ``gateway.routes.BODY_MODELS``)."""
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def header_doc(name: str, description: str, *, max_length: int) -> dict[str, Any]:
    """The OpenAPI parameter of an optional header a route reads itself."""
    schema = {"type": "string", "minLength": 1, "maxLength": max_length, "title": name}
    return {
        "name": name.lower(),
        "in": "header",
        "required": False,
        "schema": schema,
        "description": description,
    }


async def read_json_body(request: Request, model: type[M]) -> M:
    """The body as ``model``, parsed and validated in one pass; a 422 naming the
    fields (``body.<field>``) as FastAPI would."""
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as exc:
        raise RequestValidationError(
            [
                {**error, "loc": ("body", *error["loc"]), "input": _printable(error["input"])}
                for error in exc.errors()
            ]
        ) from exc


def _printable(value: Any) -> Any:
    """An input that can go back in a JSON answer (a body that is not JSON is bytes,
    maybe not even UTF-8)."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def header_value(request: Request, name: str, *, max_length: int) -> str | None:
    """An optional header of 1 to ``max_length`` characters; a 422 otherwise."""
    value = request.headers.get(name)
    if value is None:
        return None
    if not 1 <= len(value) <= max_length:
        message = f"String should have between 1 and {max_length} characters"
        raise invalid_fields([(("header", name.lower()), message, value)])
    return value
