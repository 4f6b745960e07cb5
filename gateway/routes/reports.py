"""``POST /api/v1/reports`` (intake) and ``GET /api/v1/reports/{id}``."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, HTTPException, Path
from pydantic import BaseModel

from gateway import intake
from gateway.auth import GridWorker, ReportReader, sees_personal_data
from gateway.deps import Deps
from gateway.errors import ErrorOut, Problem, invalid_fields
from gateway.ports import DistrictData
from gateway.routes.common import AUTH_ERRORS, INVALID
from routing.placement import PlacementRefused
from schemas.policy import GRID_WORKER, grid_in_scope
from schemas.reports import GeoPoint, ReportSubmission

router = APIRouter(prefix="/api/v1", tags=["reports"])

MAX_IDEMPOTENCY_KEY = 128
REPORT_NOT_FOUND = "report not found (it may still be in the pipeline)"


class ReportAccepted(BaseModel):
    report_id: uuid.UUID
    status_url: str
    status: Literal["accepted"] = "accepted"


@router.post(
    "/reports",
    status_code=202,
    response_model=ReportAccepted,
    summary="Submit a report (grid worker)",
    responses={
        **AUTH_ERRORS,
        413: {"model": ErrorOut, "description": "request body too large"},
        **INVALID,
        503: {"model": ErrorOut, "description": "the event bus did not take the report"},
    },
)
async def submit_report(
    submission: ReportSubmission,
    deps: Deps,
    token: GridWorker,
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=MAX_IDEMPOTENCY_KEY,
            description="Same key (per token) = same report id, so retries are harmless.",
        ),
    ] = None,
) -> ReportAccepted:
    """Accepted (202) means the broker has the event; the case follows asynchronously."""
    grid_code = _place_in_district(submission, deps.district)
    if token.role == GRID_WORKER and not grid_in_scope(token.scope, grid_code):
        raise HTTPException(
            status_code=403,
            detail=f"grid {grid_code} is outside this token's scope ({token.scope})",
        )
    report_id = intake.report_id(deps, token, idempotency_key, given=submission.report_id)
    await intake.publish_report(deps, token, submission, report_id)
    return ReportAccepted(report_id=report_id, status_url=f"/api/v1/reports/{report_id}")


def _place_in_district(submission: ReportSubmission, district: DistrictData) -> str:
    """The grid code of the report, or a 422 naming every field the district refuses."""
    problems: list[Problem] = []
    if submission.category not in district.taxonomy:
        problems.append(
            (
                ("body", "category"),
                f"unknown category {submission.category!r} (see GET /api/v1/categories)",
                submission.category,
            )
        )
    try:
        placement = district.place(submission.location, submission.grid_code)
    except PlacementRefused as refused:
        value = {"location": submission.location, "grid_code": submission.grid_code}
        given = value.get(refused.field)
        field = ("body", refused.field) if refused.field else ("body",)
        problems.append(
            (field, refused.reason, given.model_dump() if isinstance(given, GeoPoint) else given)
        )
    if problems:
        raise invalid_fields(problems)
    return placement.grid_code


@router.get(
    "/reports/{report_id}",
    summary="A report and the case it joined",
    responses={
        **AUTH_ERRORS,
        **INVALID,
        404: {"model": ErrorOut, "description": REPORT_NOT_FOUND},
    },
)
def get_report(
    report_id: Annotated[str, Path(min_length=1, max_length=128)],
    deps: Deps,
    token: ReportReader,
) -> dict[str, Any]:
    report = deps.queries.get_report(report_id, include_personal=sees_personal_data(token))
    if report is None:
        raise HTTPException(status_code=404, detail=REPORT_NOT_FOUND)
    if token.role == GRID_WORKER and not grid_in_scope(
        token.scope, str(report.get("grid_code") or "")
    ):
        raise HTTPException(status_code=404, detail=REPORT_NOT_FOUND)
    return report
