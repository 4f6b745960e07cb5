"""Response documentation shared by the routes."""

from __future__ import annotations

from typing import Any

from gateway.errors import ErrorOut, ValidationErrorOut

AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "missing, invalid or revoked token"},
    403: {"model": ErrorOut, "description": "the token's role or scope does not allow this"},
}
INVALID: dict[int | str, dict[str, Any]] = {
    422: {"model": ValidationErrorOut, "description": "invalid request"}
}
