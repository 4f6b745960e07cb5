"""Bearer tokens: who is calling, and may their role do this? Plus the rate
limits every signed-in request and every failed sign-in counts against
(:mod:`gateway.ratelimit`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gateway.deps import GatewayDeps, deps_of
from gateway.ports import TokenInfo, TokenVerifier
from gateway.ratelimit import ANONYMOUS, FAILED_AUTH, retry_after
from schemas.policy import ADMIN, DEPARTMENT, GRID_WORKER, LEADER, OPEN311, OPERATOR, SYSTEM

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


def too_many(wait: float, what: str) -> HTTPException:
    return HTTPException(
        status_code=429,
        detail=f"rate limit exceeded ({what}); retry later",
        headers={"Retry-After": retry_after(wait)},
    )


def client_ip(request: Request) -> str:
    """The caller's address (behind a proxy: as the server was told to trust it,
    see ``GRIDHUB_FORWARDED_ALLOW_IPS``)."""
    return request.client.host if request.client is not None else "unknown"


def check_failed_auth(deps: GatewayDeps, request: Request) -> None:
    """429 for an address over its budget of failed sign-ins (no lookup is made)."""
    if deps.rate_limits is not None:
        wait = deps.rate_limits.test(FAILED_AUTH, client_ip(request))
        if wait > 0:
            raise too_many(wait, "too many failed sign-ins from this address")


def count_failed_auth(deps: GatewayDeps, request: Request) -> None:
    if deps.rate_limits is not None:
        deps.rate_limits.hit(FAILED_AUTH, client_ip(request))


def count_request(deps: GatewayDeps, token: TokenInfo) -> None:
    """429 when the caller's principal is over its role's limits."""
    limits = deps.rate_limits
    if limits is None:
        return
    wait = limits.hit(token.role, str(token.principal_id))
    if wait > 0:
        raise too_many(wait, f"{token.role}: {limits.describe(token.role)}")


def count_anonymous(deps: GatewayDeps, request: Request) -> None:
    """429 when an address reads anonymously more than its limit."""
    limits = deps.rate_limits
    if limits is None:
        return
    wait = limits.hit(ANONYMOUS, client_ip(request))
    if wait > 0:
        raise too_many(wait, f"anonymous reads per address: {limits.describe(ANONYMOUS)}")


async def signed_in(deps: GatewayDeps, request: Request, plaintext: str | None) -> TokenInfo:
    """The verified token of a request, counted against the rate limits; 401 for
    none, 429 for an address that failed too often or a principal over its limit."""
    check_failed_auth(deps, request)
    if not plaintext:
        count_failed_auth(deps, request)
        raise unauthorized("missing bearer token (send 'Authorization: Bearer <token>')")
    record = await verify_token(deps.tokens, plaintext)
    if record is None:
        count_failed_auth(deps, request)
        raise unauthorized("invalid, expired or revoked token")
    count_request(deps, record)
    return record


def require_roles(*roles: str) -> Callable[..., Awaitable[TokenInfo]]:
    """A dependency returning the caller's token record when its role is one of
    ``roles`` (``admin`` always passes; no roles at all means any signed-in role
    but ``open311``, whose keys open only the Open311 door).

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
        return await authorize(deps_of(request), request, credentials, allowed, listed)

    return dependency


async def authorize(
    deps: GatewayDeps,
    request: Request,
    credentials: HTTPAuthorizationCredentials | None,
    allowed: frozenset[str],
    listed: str,
) -> TokenInfo:
    """The caller's token record: signed in (:func:`signed_in`: within the rate
    limits), of a role in ``allowed`` (any role but ``open311`` if empty; ``admin``
    always). Raises 401, 429 or 403."""
    record = await signed_in(deps, request, credentials.credentials if credentials else None)
    # An Open311 key files requests at its own door and opens nothing here.
    door_only = record.role == OPEN311 and OPEN311 not in allowed
    if door_only or (allowed and record.role != ADMIN and record.role not in allowed):
        raise HTTPException(
            status_code=403,
            detail=f"role {record.role!r} may not do this; allowed roles: {listed}",
        )
    return record


async def verify_token(tokens: TokenVerifier, plaintext: str) -> TokenInfo | None:
    """``tokens.verify``, off the event loop unless the verifier answers from
    memory (its ``remembered(plaintext)`` needs no I/O): a thread-pool hop costs
    more than the rest of a cached check."""
    remembered = getattr(tokens, "remembered", None)
    if remembered is not None:
        record: TokenInfo | None = remembered(plaintext)
        if record is not None:
            return record
    known_unknown = getattr(tokens, "known_unknown", None)
    if known_unknown is not None and known_unknown(plaintext):
        return None
    return await run_in_threadpool(tokens.verify, plaintext)


async def anonymous_reader(request: Request) -> None:
    """Dependency of the public reads: counted per address."""
    count_anonymous(deps_of(request), request)


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
Leader = Annotated[TokenInfo, Depends(require_roles(LEADER))]
Anonymous = Depends(anonymous_reader)
# The dependencies of every door that needs no token (Open311 reads, /public/ and
# its API, a reporter's feedback link): each request counted per client address.
PUBLIC_READ = [Anonymous]
