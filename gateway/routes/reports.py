"""``POST /api/v1/reports`` (intake) and ``GET /api/v1/reports/{id}``.

A phone's report is the gateway's hottest path: it is checked, placed on its grid
and published straight to ``gridhub.reports`` (:mod:`gateway.intake`), with one
dependency for the caller and an answer serialised once, by hand."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, HTTPException, Path, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from gateway import intake
from gateway.audit import audit_personal_read
from gateway.auth import ReportReader, bearer_scheme, require_roles, sees_personal_data
from gateway.deps import Deps, deps_of
from gateway.errors import ErrorOut, Problem, invalid_fields
from gateway.ports import DistrictData
from gateway.routes.common import (
    AUTH_ERRORS,
    BEARER_SECURITY,
    INVALID,
    header_doc,
    header_value,
    json_body_doc,
    read_json_body,
)
from gateway.routes.media import check_media_ids
from routing.placement import Placement, PlacementRefused
from schemas.policy import GRID_WORKER, grid_in_scope
from schemas.reports import GeoPoint, ReportSubmission

router = APIRouter(prefix="/api/v1", tags=["reports"])

MAX_IDEMPOTENCY_KEY = 128
IDEMPOTENCY_KEY = "Idempotency-Key"
REPORT_NOT_FOUND = "report not found (it may still be in the pipeline)"


class ReportAccepted(BaseModel):
    report_id: uuid.UUID
    status_url: str
    status: Literal["accepted"] = "accepted"


# The caller's check of every grid-worker route, called by hand below.
_grid_worker = require_roles(GRID_WORKER)


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
    openapi_extra={
        "requestBody": json_body_doc(ReportSubmission),
        "parameters": [
            header_doc(
                IDEMPOTENCY_KEY,
                "Same key (per token) = same report id, so retries are harmless.",
                max_length=MAX_IDEMPOTENCY_KEY,
            )
        ],
        "security": BEARER_SECURITY,
    },
)
async def submit_report(request: Request) -> Response:
    """Accepted (202) means the broker has the report; the case follows asynchronously."""
    # The request is read here, not by FastAPI's parameter solving, which cost more
    # than everything else this route does; the checks and their answers are the same.
    token = await _grid_worker(request, await bearer_scheme(request))
    idempotency_key = header_value(request, IDEMPOTENCY_KEY, max_length=MAX_IDEMPOTENCY_KEY)
    submission = await read_json_body(request, ReportSubmission)
    deps = deps_of(request)
    placement = _place_in_district(submission, deps.district)
    if token.role == GRID_WORKER and not grid_in_scope(token.scope, placement.grid_code):
        raise HTTPException(
            status_code=403,
            detail=f"grid {placement.grid_code} is outside this token's scope ({token.scope})",
        )
    if submission.media:
        await run_in_threadpool(check_media_ids, deps, token, list(submission.media))
    report_id = intake.report_id(deps, token, idempotency_key, given=submission.report_id)
    await intake.publish_report(deps, token, submission, placement, report_id)
    # The answer is ReportAccepted's JSON, written directly (its fields are ours).
    answer = {
        "report_id": str(report_id),
        "status_url": f"/api/v1/reports/{report_id}",
        "status": "accepted",
    }
    return Response(orjson.dumps(answer), status_code=202, media_type="application/json")


def _place_in_district(submission: ReportSubmission, district: DistrictData) -> Placement:
    """The report's placement, or a 422 naming every field the district refuses."""
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
    return placement


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
    audit_personal_read(deps, token, f"report:{report_id}", [report])
    return report
