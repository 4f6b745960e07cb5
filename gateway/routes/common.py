"""Response documentation shared by the routes."""

from __future__ import annotations

from typing import Any

from gateway.errors import ErrorOut, ValidationErrorOut

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
