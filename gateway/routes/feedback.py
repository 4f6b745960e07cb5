"""Feedback links (回访): ``/f/{token}`` for the person who reported, no sign-in.

The link (signed by the worker, :mod:`schemas.feedback`) names one report. Behind
it the reporter sees the case's progress in plain words and, once the case is
resolved or closed, rates it 1–5 with an optional comment — once: the rating
store keeps one rating per report. The score goes to the case agent as a
``rate`` command by the ``reporter`` role scoped to that report, so assessment
counts it; a low score becomes the duty office's 回访不满意 item
(:mod:`streams.logic.feedback`).

The answers carry nothing the link's holder did not already know: no names,
no phones, no free text of others, places no finer than a street."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Path
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from gateway.auth import PUBLIC_READ
from gateway.deps import Deps, GatewayDeps
from gateway.errors import ErrorOut
from gateway.publisher import PublishError
from gateway.routes.pages import PAGE_HEADERS, STATIC_DIR
from schemas.cases import Action, CaseAction, CaseCommand, CaseState
from schemas.feedback import (
    MAX_TOKEN,
    FeedbackClaim,
    FeedbackTokenError,
    is_unsatisfied,
    read_token,
)
from schemas.policy import REPORTER
from schemas.publicdata import RATEABLE_STATES, plain_status, street_of_area

log = logging.getLogger(__name__)

# The link is the credential: no token, but each request counted per client address.
router = APIRouter(tags=["feedback"], dependencies=PUBLIC_READ)
api = APIRouter(prefix="/api/v1/feedback", tags=["feedback"], dependencies=PUBLIC_READ)

Token = Annotated[str, Path(min_length=10, max_length=MAX_TOKEN, pattern=r"^[A-Za-z0-9_.-]+$")]
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
LINK_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "no such link, or it has expired"},
    503: {"model": ErrorOut, "description": "feedback is not available here"},
}
MAX_MERGE_HOPS = 5


class Rating(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    score: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=500)


def _claim(deps: GatewayDeps, token: str) -> FeedbackClaim:
    if not deps.feedback_secret:
        raise HTTPException(status_code=503, detail="feedback is not available here")
    try:
        return read_token(deps.feedback_secret, token, datetime.now(UTC))
    except FeedbackTokenError as exc:
        # forged and unknown look the same to the caller
        detail = "this link has expired" if exc.reason == "expired" else "no such link"
        raise HTTPException(status_code=404, detail=detail) from exc


def _case_of(deps: GatewayDeps, report_id: str) -> dict[str, Any] | None:
    """The case now holding the report (following merges)."""
    report = deps.queries.get_report(report_id, include_personal=False)
    if report is None or not report.get("case_id"):
        return None
    case = deps.queries.get_case_brief(str(report["case_id"]))
    for _ in range(MAX_MERGE_HOPS):
        if case is None or case["state"] != CaseState.MERGED.value or not case.get("merged_into"):
            break
        case = deps.queries.get_case_brief(str(case["merged_into"]))
    return case


def _status(deps: GatewayDeps, claim: FeedbackClaim, case: dict[str, Any] | None) -> dict[str, Any]:
    rated = deps.feedback.get(claim.report_id) if deps.feedback is not None else None
    if case is None:  # still on its way through the pipeline
        return {
            "state": "received",
            "status": {"zh": "已收到，正在登记", "en": "Received; being registered"},
            "rateable": False,
            "rated": rated is not None,
            "expires_at": claim.expires_at.isoformat(),
        }
    category = deps.district.taxonomy.get(str(case["category"]))
    street = str(case.get("street_code") or street_of_area(str(case["id"])))
    zone = ZoneInfo(deps.tz)  # the district's calendar, as /public/ counts days

    def day(moment: Any) -> Any:
        return (
            moment.astimezone(zone).date().isoformat() if isinstance(moment, datetime) else moment
        )

    return {
        "state": case["state"],
        "status": plain_status(str(case["state"])),
        "category": {
            "code": case["category"],
            "name_zh": category.name_zh if category else case["category"],
            "name_en": category.name_en if category else case["category"],
        },
        "street": deps.district.grids.streets().get(street, street),
        "opened": day(case.get("opened_at")),
        "closed": day(case.get("closed_at")),
        "rateable": case["state"] in RATEABLE_STATES and rated is None,
        "rated": rated is not None,
        "score": rated["score"] if rated else None,
        "expires_at": claim.expires_at.isoformat(),
    }


@router.get("/f/{token}", include_in_schema=False)
async def feedback_page(token: Token) -> FileResponse:
    # The token is read by the page from its own address; the page is the same for all.
    return FileResponse(
        STATIC_DIR / "feedback.html", media_type="text/html", headers={**PAGE_HEADERS, **NO_STORE}
    )


@api.get("/{token}", summary="A reporter's case in plain words (the feedback link)")
async def feedback_status(token: Token, deps: Deps) -> JSONResponse:
    claim = _claim(deps, token)
    case = await run_in_threadpool(_case_of, deps, claim.report_id)
    body = await run_in_threadpool(_status, deps, claim, case)
    return JSONResponse(body, headers=NO_STORE)


@api.post(
    "/{token}",
    status_code=202,
    summary="Rate the handling of the case 1–5, once, with an optional comment",
    responses={
        **LINK_ERRORS,
        409: {"model": ErrorOut, "description": "already rated, or not resolved yet"},
    },
)
async def rate(token: Token, rating: Rating, deps: Deps) -> JSONResponse:
    claim = _claim(deps, token)
    if deps.feedback is None:
        raise HTTPException(status_code=503, detail="feedback is not available here")
    case = await run_in_threadpool(_case_of, deps, claim.report_id)
    if case is None or case["state"] not in RATEABLE_STATES:
        raise HTTPException(
            status_code=409, detail="the case can be rated once it is resolved or closed"
        )
    now = datetime.now(UTC)
    first = await run_in_threadpool(
        deps.feedback.record, claim.report_id, str(case["id"]), rating.score, rating.comment, now
    )
    if not first:
        raise HTTPException(status_code=409, detail="this report has been rated already")
    command = CaseCommand(
        command_id=f"feedback:{claim.report_id}",
        case_id=str(case["id"]),
        actor=f"{REPORTER}:{claim.report_id}"[:128],
        role=REPORTER,
        scope=claim.report_id,
        time=now,
        body=CaseAction(action=Action.RATE, score=rating.score, note=rating.comment or None),
    )
    try:
        await deps.publisher.publish(
            deps.topics.case_commands,
            command.partition_key,
            command.model_dump_json().encode(),
            [],
        )
    except PublishError as exc:
        log.warning("rating of report %s not published: %s", claim.report_id, exc)
        await run_in_threadpool(deps.feedback.forget, claim.report_id)
        raise HTTPException(
            status_code=503, detail="please try again in a moment", headers={"Retry-After": "5"}
        ) from exc
    return JSONResponse(
        {"rated": True, "score": rating.score, "low": is_unsatisfied(rating.score)}, status_code=202
    )
