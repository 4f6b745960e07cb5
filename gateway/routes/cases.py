"""``GET /api/v1/cases`` (operators, leaders, departments: their own) and
``GET /api/v1/cases/{id}`` (also grid workers, in their grids), the detail with the
actions the caller may take now, from the case policy (:mod:`schemas.policy`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from gateway.audit import audit_personal_read
from gateway.auth import CaseWorker, CentreOrDepartment, own_department, sees_personal_data
from gateway.deps import Deps
from gateway.errors import ErrorOut
from gateway.ports import TokenInfo
from gateway.routes.common import AUTH_ERRORS, INVALID, MAX_OFFSET
from schemas.cases import Action, CaseState, Priority, SlaState
from schemas.duty import Extension, Order, Task
from schemas.policy import (
    CaseFacts,
    action_names,
    allowed_actions,
    sees_case,
)

router = APIRouter(prefix="/api/v1", tags=["cases"])

CASE_NOT_FOUND = "case not found"
CODE_PATTERN = r"^[0-9]{1,15}$"


class CaseList(BaseModel):
    items: list[dict[str, Any]]
    total: int
    limit: int
    offset: int


@router.get(
    "/cases",
    response_model=CaseList,
    summary="List cases (a department sees only its own)",
    responses={**AUTH_ERRORS, **INVALID},
)
def list_cases(
    deps: Deps,
    token: CentreOrDepartment,
    state: CaseState | None = None,
    category: Annotated[str | None, Query(max_length=64)] = None,
    grid_code: Annotated[str | None, Query(max_length=15, description="exactly this grid")] = None,
    grid: Annotated[
        str | None,
        Query(
            pattern=CODE_PATTERN,
            description="a grid code, or a community/street code prefix of grid codes",
        ),
    ] = None,
    street: Annotated[
        str | None, Query(pattern=r"^[0-9]{9}$", description="9-digit street code")
    ] = None,
    department: Annotated[str | None, Query(max_length=64)] = None,
    priority: Priority | None = None,
    sla_state: SlaState | None = None,
    q: Annotated[
        str | None, Query(min_length=1, max_length=100, description="text in the title")
    ] = None,
    since: Annotated[datetime | None, Query(description="opened at or after")] = None,
    until: Annotated[datetime | None, Query(description="opened before")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> CaseList:
    own = own_department(token)
    if own is not None:
        if department is not None and department != own:
            return CaseList(items=[], total=0, limit=limit, offset=offset)
        department = own
    items, total = deps.queries.list_cases(
        state=state.value if state else None,
        category=category,
        grid_code=grid_code,
        department=department,
        priority=priority.value if priority else None,
        limit=limit,
        offset=offset,
        street=street,
        sla_state=sla_state.value if sla_state else None,
        q=q,
        since=since,
        until=until,
        grid_prefixes=[grid] if grid else None,
    )
    return CaseList(items=items, total=total, limit=limit, offset=offset)


class CaseDetail(BaseModel):
    """One case in the "case out" shape of DESIGN.md §5 (more fields are included
    than listed here), with its reports, its timeline and the actions the caller
    may take on it now."""

    model_config = ConfigDict(extra="allow")

    id: str
    state: CaseState
    category: str
    priority: Priority
    grid_code: str
    lead_department: str | None
    departments: list[str]
    report_count: int
    respond_by: datetime | None
    resolve_by: datetime | None
    sla_state: SlaState
    rework_count: int
    escalation_level: int
    merged_into: str | None
    version: int
    reports: list[dict[str, Any]] = Field(description="oldest first, with merged cases' reports")
    timeline: list[dict[str, Any]] = Field(
        description="[{version, type, time, actor, actor_name, data}]: actor is "
        "<role>:<principal id> (or system:...), actor_name its display name"
    )
    tasks: list[Task] = Field(
        default_factory=list,
        description="each department's part (联合执法): the lead's and each co-department's",
    )
    extensions: list[Extension] = Field(default_factory=list, description="延期申请 and decisions")
    orders: list[Order] = Field(default_factory=list, description="督办单 and replies")
    due_by: datetime | None = Field(
        default=None,
        description="assessment's deadline: the first one plus approved extensions and deferrals",
    )
    deferred_at: datetime | None = Field(default=None, description="缓办 since; None if not")
    actions: list[Action] = Field(
        description=(
            "the actions this caller may take on the case now (POST .../actions), by the "
            "case policy: role, scope and state; the pages draw their buttons from it"
        )
    )


def visible(token: TokenInfo, case: Mapping[str, Any]) -> bool:
    """Whether the caller may see ``case`` at all (the case policy's scope rule)."""
    return sees_case(token.role, token.scope, CaseFacts.of(case))


def with_actions(token: TokenInfo, case: Mapping[str, Any]) -> dict[str, Any]:
    """``case`` with ``actions``: what this caller may do to it now."""
    allowed = allowed_actions(token.role, token.scope, CaseFacts.of(case))
    return {**case, "actions": action_names(allowed)}


@router.get(
    "/cases/{case_id}",
    response_model=CaseDetail,
    summary="One case with its reports, timeline and the caller's actions (scoped roles: in scope)",
    responses={**AUTH_ERRORS, **INVALID, 404: {"model": ErrorOut, "description": CASE_NOT_FOUND}},
)
def get_case(
    case_id: Annotated[str, Path(min_length=1, max_length=128)],
    deps: Deps,
    token: CaseWorker,
) -> dict[str, Any]:
    """Grid workers see the cases in their grids (to verify them on site),
    departments their own cases; reporters' names and phones only operators."""
    own_department(token)
    case = deps.queries.get_case(case_id, include_personal=sees_personal_data(token))
    if case is None or not visible(token, case):
        raise HTTPException(status_code=404, detail=CASE_NOT_FOUND)
    audit_personal_read(deps, token, f"case:{case_id}", case.get("reports") or [])
    return with_actions(token, case)
