"""The caller: who it is (``GET /api/v1/me/profile``), its work (``GET /api/v1/me/tasks``)
and its notifications (``GET /api/v1/me/inbox``, marked read one by one)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel

from gateway.auth import GridWorker, SignedIn, own_department
from gateway.deps import Deps
from gateway.errors import ErrorOut
from gateway.ports import TokenInfo
from gateway.routes.cases import CaseList, with_actions
from gateway.routes.common import AUTH_ERRORS, INVALID, MAX_OFFSET
from schemas.cases import CaseState
from schemas.policy import GRID_WORKER, scope_parts

router = APIRouter(prefix="/api/v1/me", tags=["me"])

# Where notifications for each role are addressed (streams.reportup recipients).
DUTY_OFFICE = "duty_office"
LEADERS = "leaders"  # escalations from level 2, unanswered 挂牌 orders


class Profile(BaseModel):
    principal_id: str
    name: str
    role: str
    scope: str | None


class InboxMessage(BaseModel):
    notification_id: str
    recipient: str
    channel: str
    case_id: str | None
    event_type: str
    subject: str
    body: str
    data: dict[str, Any]
    time: datetime
    read_at: datetime | None


class Inbox(BaseModel):
    recipients: list[str]
    items: list[InboxMessage]


@router.get(
    "/profile",
    response_model=Profile,
    summary="The signed-in principal's id, name, role and scope (what the pages show and offer)",
    responses={**AUTH_ERRORS},
)
def profile(token: SignedIn) -> Profile:
    return Profile(
        principal_id=str(token.principal_id), name=token.name, role=token.role, scope=token.scope
    )


@router.get(
    "/tasks",
    response_model=CaseList,
    summary="Resolved cases in this grid worker's grids, waiting for on-site verification",
    description="Each case carries `actions`, as in the case detail: what this worker may do now.",
    responses={**AUTH_ERRORS, **INVALID},
)
def my_tasks(
    deps: Deps,
    token: GridWorker,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> CaseList:
    parts = scope_parts(token.scope)
    items, total = deps.queries.list_cases(
        state=CaseState.RESOLVED.value,
        grid_prefixes=parts or None,  # no scope: the whole district
        limit=limit,
        offset=offset,
    )
    tasks = [with_actions(token, case) for case in items]
    return CaseList(items=tasks, total=total, limit=limit, offset=offset)


def recipients_of(token: TokenInfo) -> list[str]:
    """The notification recipients a token reads: a department its own
    (``department:<code>``), the centre the duty office (leaders theirs too), a
    grid worker its own (``grid_worker:<principal id>``) plus the answers to the
    reports it submitted."""
    match token.role:
        case "department":
            return [f"department:{part}" for part in scope_parts(token.scope)]
        case "leader":
            return [DUTY_OFFICE, LEADERS]
        case "operator" | "admin":
            return [DUTY_OFFICE]
        case "grid_worker":
            return [f"grid_worker:{token.principal_id}"]
        case "system":
            return [f"system:{part}" for part in scope_parts(token.scope)]
    return []


@router.get(
    "/inbox",
    response_model=Inbox,
    summary="Notifications for this token (newest first)",
    responses={**AUTH_ERRORS, **INVALID},
)
def my_inbox(
    deps: Deps,
    token: SignedIn,
    unread: Annotated[bool, Query(description="only messages not yet read")] = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Inbox:
    own_department(token)
    recipients = recipients_of(token)
    reports_by = str(token.principal_id) if token.role == GRID_WORKER else None
    rows = deps.queries.inbox(recipients, reports_by=reports_by, unread_only=unread, limit=limit)
    return Inbox(recipients=recipients, items=[InboxMessage.model_validate(r) for r in rows])


class MarkedRead(BaseModel):
    notification_id: str
    read: bool


@router.post(
    "/inbox/{notification_id}/read",
    response_model=MarkedRead,
    summary="Mark one of this token's inbox messages read",
    responses={
        **AUTH_ERRORS,
        404: {"model": ErrorOut, "description": "no such message in this inbox"},
        503: {"model": ErrorOut, "description": "the inbox cannot be written here"},
    },
)
def mark_read(
    notification_id: Annotated[str, Path(min_length=1, max_length=400)],
    deps: Deps,
    token: SignedIn,
) -> MarkedRead:
    if deps.inbox_marker is None:
        raise HTTPException(status_code=503, detail="the inbox cannot be written here")
    reports_by = str(token.principal_id) if token.role == GRID_WORKER else None
    item = deps.queries.inbox_item(notification_id, recipients_of(token), reports_by=reports_by)
    if item is None:
        raise HTTPException(status_code=404, detail="no such message in this inbox")
    if item["read_at"] is None:
        deps.inbox_marker.mark_read(notification_id, str(item["recipient"]))
    return MarkedRead(notification_id=notification_id, read=True)
