"""Bearer tokens: who is calling, and may their role do this?"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gateway.deps import GatewayDeps, deps_of
from gateway.ports import TokenInfo, TokenVerifier
from gateway.ratelimit import retry_after
from schemas.policy import ADMIN, DEPARTMENT, GRID_WORKER, LEADER, OPERATOR, SYSTEM

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


def require_roles(*roles: str) -> Callable[..., Awaitable[TokenInfo]]:
    """A dependency returning the caller's token record when its role is one of
    ``roles`` (``admin`` always passes; no roles at all means any signed-in role).

    A token the verifier remembers (``sinks.tokens.CachedTokens``) is answered on
    the event loop; any other lookup hits the database and runs in the thread pool.

    One dependency does it all (the deps come from the request, not from a second
    dependency): each level of FastAPI's dependency solving costs more per request
    than the whole check of a remembered token."""
    allowed = frozenset(roles)
    listed = ", ".join(sorted(allowed | {ADMIN}))

    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    ) -> TokenInfo:
        return await authorize(deps_of(request), credentials, allowed, listed)

    return dependency


async def authorize(
    deps: GatewayDeps,
    credentials: HTTPAuthorizationCredentials | None,
    allowed: frozenset[str],
    listed: str,
) -> TokenInfo:
    """The caller's token record: signed in, within its rate limit, of a role in
    ``allowed`` (any role if empty; ``admin`` always). Raises 401, 429 or 403."""
    if credentials is None:
        raise unauthorized("missing bearer token (send 'Authorization: Bearer <token>')")
    record = await verify_token(deps.tokens, credentials.credentials)
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


async def verify_token(tokens: TokenVerifier, plaintext: str) -> TokenInfo | None:
    """``tokens.verify``, off the event loop unless the verifier remembers the token
    (its ``remembered(plaintext)`` answers without I/O): a thread-pool hop costs
    more than the rest of a cached check."""
    remembered = getattr(tokens, "remembered", None)
    if remembered is not None:
        record: TokenInfo | None = remembered(plaintext)
        if record is not None:
            return record
    return await run_in_threadpool(tokens.verify, plaintext)


def sees_personal_data(token: TokenInfo) -> bool:
    return token.role in PERSONAL_DATA_ROLES


def own_department(token: TokenInfo) -> str | None:
    """The department a department token is limited to (None for other roles); a
    department token without one may see nothing (403)."""
    if token.role != DEPARTMENT:
        return None
    if not token.scope:
        raise HTTPException(status_code=403, detail="this department token has no department scope")
    return token.scope


# Who may call a route: the caller's token, once its role is checked (admin passes all).
SignedIn = Annotated[TokenInfo, Depends(require_roles())]
GridWorker = Annotated[TokenInfo, Depends(require_roles(GRID_WORKER))]
# Operators, leaders, departments and grid workers see cases (within their scope)
# and act on them as the case policy (schemas.policy) allows.
CaseWorker = Annotated[TokenInfo, Depends(require_roles(OPERATOR, LEADER, DEPARTMENT, GRID_WORKER))]
CentreOrDepartment = Annotated[TokenInfo, Depends(require_roles(OPERATOR, LEADER, DEPARTMENT))]
Centre = Annotated[TokenInfo, Depends(require_roles(OPERATOR, LEADER))]
ReportReader = Annotated[TokenInfo, Depends(require_roles(GRID_WORKER, OPERATOR, LEADER))]
# Departments upload evidence of a fix, grid workers photos of the problem and of
# the verification, operators whatever they attach to a case.
Uploader = Annotated[TokenInfo, Depends(require_roles(GRID_WORKER, OPERATOR, DEPARTMENT))]
System = Annotated[TokenInfo, Depends(require_roles(SYSTEM))]
Admin = Annotated[TokenInfo, Depends(require_roles(ADMIN))]
