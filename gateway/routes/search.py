"""``GET /api/v1/search``: find cases by a case id prefix, a source's case number
(``external_ref``: a 数字城管 case number), words of the title or of any report,
an address or grid name (the grids it names), or a reporter's phone number.

Operators and leaders search every case, departments their own. Searching by
phone is personal data: operators only, and every such search is written to the
audit log (who, when, the number masked, how many cases) before the answer goes
out — no audit log, no phone search (503)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from gateway.audit import audit_phone_search
from gateway.auth import CentreOrDepartment, own_department, sees_personal_data
from gateway.deps import Deps
from gateway.errors import ErrorOut
from gateway.routes.common import AUTH_ERRORS, INVALID

router = APIRouter(prefix="/api/v1", tags=["cases"])


class SearchHit(BaseModel):
    case: dict[str, Any]
    matched: list[str] = Field(
        description="what matched: id, external_ref, title, report, grid, phone"
    )


class SearchResults(BaseModel):
    items: list[SearchHit]
    grids: list[str] = Field(description="the grids the words named (address or grid name)")


@router.get(
    "/search",
    response_model=SearchResults,
    summary="Find cases by id, case number, words, place or reporter phone",
    responses={
        **AUTH_ERRORS,
        **INVALID,
        503: {"model": ErrorOut, "description": "phone search without an audit log"},
    },
)
async def search(
    deps: Deps,
    token: CentreOrDepartment,
    q: Annotated[
        str | None,
        Query(min_length=1, max_length=100, description="id prefix, case number, words, place"),
    ] = None,
    phone: Annotated[
        str | None,
        Query(
            min_length=5,
            max_length=32,
            pattern=r"^[0-9+()\- ]+$",
            description="a reporter's phone number (operators only; audited)",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> SearchResults:
    own = own_department(token)
    if phone is not None and not sees_personal_data(token):
        raise HTTPException(status_code=403, detail="only operators may search by phone")
    if phone is not None and deps.audit is None:
        raise HTTPException(status_code=503, detail="phone search needs the audit log")
    grids = [grid.code for grid in deps.district.grids.named(q)] if q else []
    hits = await run_in_threadpool(
        lambda: deps.queries.search(q=q, phone=phone, grid_codes=grids, department=own, limit=limit)
    )
    if phone is not None:
        found = [h["case"]["id"] for h in hits if "phone" in h["matched"]]
        await run_in_threadpool(audit_phone_search, deps, token, phone, found)
    return SearchResults(items=[SearchHit.model_validate(h) for h in hits], grids=grids)
