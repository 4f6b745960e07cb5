"""The duty office's work lists: ``GET /api/v1/orders`` (supervision orders, the
console's list of open orders) and ``GET /api/v1/extensions`` (extension requests
to approve or refuse). A department sees the orders addressed to it and its own
requests; the centre sees all."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from gateway.auth import CentreOrDepartment, own_department
from gateway.deps import Deps
from gateway.routes.common import AUTH_ERRORS, INVALID

router = APIRouter(prefix="/api/v1", tags=["duty office"])


class WorkItems(BaseModel):
    items: list[dict[str, Any]] = Field(
        description="each with its `case_id`, its id (o<n> / x<n>) and `case` "
        "(state, category, priority, title, grid_code, lead_department)"
    )
    now: datetime = Field(description="the server's time, to tell what is overdue")


@router.get(
    "/orders",
    response_model=WorkItems,
    summary="Supervision orders (督办单), soonest reply deadline first",
    responses={**AUTH_ERRORS, **INVALID},
)
async def list_orders(
    deps: Deps,
    token: CentreOrDepartment,
    state: Literal["open", "answered"] | None = "open",
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> WorkItems:
    own = own_department(token)
    items = await run_in_threadpool(
        lambda: deps.queries.orders(state=state, department=own, limit=limit)
    )
    return WorkItems(items=items, now=datetime.now().astimezone())


@router.get(
    "/extensions",
    response_model=WorkItems,
    summary="Extension requests (延期申请), oldest first",
    responses={**AUTH_ERRORS, **INVALID},
)
async def list_extensions(
    deps: Deps,
    token: CentreOrDepartment,
    state: Literal["pending", "approved", "refused"] | None = "pending",
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> WorkItems:
    own = own_department(token)
    items = await run_in_threadpool(
        lambda: deps.queries.extensions(state=state, department=own, limit=limit)
    )
    return WorkItems(items=items, now=datetime.now().astimezone())
