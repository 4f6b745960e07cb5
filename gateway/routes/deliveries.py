"""``/api/v1/admin/deliveries``: dead webhook and channel deliveries (e-mail, group
robots, SMS), listed and sent again by an admin (:mod:`sinks.redelivery`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.concurrency import run_in_threadpool

from gateway.auth import Admin
from gateway.deps import Deps, GatewayDeps
from gateway.errors import ErrorOut
from gateway.ports import DeliveryAdmin
from gateway.routes.common import AUTH_ERRORS, INVALID

router = APIRouter(prefix="/api/v1/admin/deliveries", tags=["admin"])

Kind = Annotated[Literal["webhook", "channel"], Path(description="webhook or channel")]
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorOut, "description": "deliveries are not available here"}
}


def _admin(deps: GatewayDeps) -> DeliveryAdmin:
    if deps.deliveries is None:
        raise HTTPException(status_code=503, detail="deliveries are not available here")
    return deps.deliveries


@router.get(
    "/{kind}",
    summary="Webhook or channel deliveries (default: the dead ones)",
    responses={**AUTH_ERRORS, **INVALID, **UNAVAILABLE},
)
async def list_deliveries(
    kind: Kind,
    deps: Deps,
    token: Admin,
    status: Annotated[Literal["pending", "delivered", "dead"], Query()] = "dead",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    items = await run_in_threadpool(_admin(deps).list, kind, status, limit)
    return {"items": items}


@router.post(
    "/{kind}/{delivery_id}/resend",
    status_code=202,
    summary="Send a dead delivery again (the worker's next sweep sends it)",
    responses={
        **AUTH_ERRORS,
        **UNAVAILABLE,
        404: {"model": ErrorOut, "description": "no dead delivery with that id"},
    },
)
async def resend(
    kind: Kind,
    delivery_id: Annotated[str, Path(min_length=1, max_length=400)],
    deps: Deps,
    token: Admin,
) -> dict[str, Any]:
    if not await run_in_threadpool(_admin(deps).resend, kind, delivery_id):
        raise HTTPException(status_code=404, detail="no dead delivery with that id")
    return {"id": delivery_id, "status": "pending"}
