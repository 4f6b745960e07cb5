"""``GET /api/v1/audit``: the audit log — who read personal data, who changed
tokens, principals and webhook subscriptions (leaders and admins)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel

from gateway.auth import Leader
from gateway.deps import Deps
from gateway.errors import ErrorOut
from gateway.routes.common import AUTH_ERRORS, INVALID

router = APIRouter(prefix="/api/v1", tags=["audit"])


class AuditEntryOut(BaseModel):
    id: int
    time: datetime
    actor: str
    actor_role: str | None
    action: str
    target: str | None
    detail: dict[str, Any]


@router.get(
    "/audit",
    response_model=list[AuditEntryOut],
    summary="The audit log, newest first (leaders and admins)",
    responses={
        **AUTH_ERRORS,
        **INVALID,
        503: {"model": ErrorOut, "description": "no audit log here"},
    },
)
def audit_entries(
    deps: Deps,
    token: Leader,
    action: Annotated[
        str | None, Query(max_length=64, description="e.g. personal_data.read")
    ] = None,
    actor: Annotated[str | None, Query(max_length=200, description="role:principal id")] = None,
    since: Annotated[datetime | None, Query(description="at or after")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[AuditEntryOut]:
    if deps.audit is None:
        raise HTTPException(status_code=503, detail="the audit log is not configured here")
    rows = deps.audit.entries(action=action, actor=actor, since=since, limit=limit)
    return [AuditEntryOut.model_validate(row) for row in rows]
