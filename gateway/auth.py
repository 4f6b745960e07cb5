"""Bearer tokens: who is calling, and may their role do this?"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gateway.deps import GatewayDeps, get_deps
from gateway.ports import TokenInfo
from gateway.ratelimit import retry_after

ADMIN = "admin"
GRID_WORKER = "grid_worker"
OPERATOR = "operator"
DEPARTMENT = "department"
LEADER = "leader"
SYSTEM = "system"

# Roles that may see reporters' names and phone numbers (DESIGN.md §8).
PERSONAL_DATA_ROLES = frozenset({OPERATOR, ADMIN})

bearer_scheme = HTTPBearer(
    scheme_name="bearer",
    description="A GridHub token (`gridhub token create --role R --name N`).",
    auto_error=False,
)

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(status_code=401, detail=detail, headers=_CHALLENGE)


def require_roles(*roles: str) -> Callable[..., TokenInfo]:
    """A dependency returning the caller's token record when its role is one of
    ``roles`` (``admin`` always passes; no roles at all means any signed-in role).

    It is a plain function on purpose: token lookup hits the database, so
    FastAPI runs it in the thread pool instead of on the event loop."""
    allowed = frozenset(roles)
    listed = ", ".join(sorted(allowed | {ADMIN}))

    def dependency(
        deps: Annotated[GatewayDeps, Depends(get_deps)],
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    ) -> TokenInfo:
        if credentials is None:
            raise unauthorized("missing bearer token (send 'Authorization: Bearer <token>')")
        record = deps.tokens.verify(credentials.credentials)
        if record is None:
            raise unauthorized("invalid or revoked token")
        if deps.rate_limiter is not None:
            wait = deps.rate_limiter.acquire(str(record.id))
            if wait > 0:
                raise HTTPException(
                    status_code=429,
                    detail=(
                        f"rate limit exceeded for this token ({deps.rate_limiter.rate:g}/s, "
                        f"burst {deps.rate_limiter.burst}); retry later"
                    ),
                    headers={"Retry-After": retry_after(wait)},
                )
        if allowed and record.role != ADMIN and record.role not in allowed:
            raise HTTPException(
                status_code=403,
                detail=f"role {record.role!r} may not do this; allowed roles: {listed}",
            )
        return record

    return dependency


def sees_personal_data(token: TokenInfo) -> bool:
    return token.role in PERSONAL_DATA_ROLES
