"""``GET /api/v1/stats/...``: the live queue, SLA status, hotspots, the hotspot
windows against their baseline, and the assessment indicators (考核) per
department and grid worker.

Operators, leaders and admins see everything; a department sees only its own
row (its queue, its SLA row, its indicators)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel

from gateway.auth import Centre, CentreOrDepartment, own_department
from gateway.deps import Deps, GatewayDeps
from gateway.errors import ErrorOut, invalid_fields
from gateway.ports import StatsReader
from gateway.routes.common import AUTH_ERRORS, INVALID

router = APIRouter(prefix="/api/v1/stats", tags=["stats"])

UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorOut, "description": "statistics are not available here"}
}
MAX_PERIOD = timedelta(days=400)
EARLIEST_YEAR, LATEST_YEAR = 2000, 2100


class Rows(BaseModel):
    start: datetime | None = None
    end: datetime | None = None
    items: list[dict[str, Any]]


def _stats(deps: GatewayDeps) -> StatsReader:
    if deps.stats is None:
        raise HTTPException(status_code=503, detail="statistics are not available here")
    return deps.stats


def _period(
    start: datetime | None, end: datetime | None, default: timedelta
) -> tuple[datetime, datetime]:
    """``[start, end)`` as aware UTC datetimes (naive input is UTC); default: the
    ``default`` span up to now. Dates outside 2000-2100 are a 422 (far ones would
    overflow the arithmetic on them)."""
    for name, moment in (("start", start), ("end", end)):
        if moment is not None and not EARLIEST_YEAR <= moment.year < LATEST_YEAR:
            raise invalid_fields(
                [(("query", name), f"must be between {EARLIEST_YEAR} and {LATEST_YEAR}", None)]
            )
    end = _aware(end) if end is not None else datetime.now(UTC)
    start = _aware(start) if start is not None else end - default
    if not start < end:
        raise invalid_fields([(("query", "start"), "start must be before end", start.isoformat())])
    if end - start > MAX_PERIOD:
        raise invalid_fields(
            [(("query", "start"), f"period longer than {MAX_PERIOD.days} days", start.isoformat())]
        )
    return start, end


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


Start = Annotated[datetime | None, Query(description="period start (inclusive, ISO 8601)")]
End = Annotated[datetime | None, Query(description="period end (exclusive); default now")]


@router.get(
    "/queue",
    summary="Live cases by state × priority and by SLA state",
    responses={**AUTH_ERRORS, **UNAVAILABLE},
)
def queue(deps: Deps, token: CentreOrDepartment) -> dict[str, Any]:
    return _stats(deps).queue(department=own_department(token))


@router.get(
    "/sla",
    response_model=Rows,
    summary="Dispatched and in-progress cases per lead department: on_track / warning / overdue",
    responses={**AUTH_ERRORS, **UNAVAILABLE},
)
def sla(deps: Deps, token: CentreOrDepartment) -> Rows:
    return Rows(items=_stats(deps).sla(department=own_department(token)))


@router.get(
    "/hotspots",
    response_model=Rows,
    summary="Grid × category pairs with the most live cases (then reports) opened in a window",
    responses={**AUTH_ERRORS, **INVALID, **UNAVAILABLE},
)
def hotspots(
    deps: Deps,
    token: Centre,
    start: Start = None,
    end: End = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Rows:
    since, until = _period(start, end, timedelta(days=7))
    return Rows(start=since, end=until, items=_stats(deps).hotspots(since, until, limit=limit))


@router.get(
    "/departments",
    response_model=Rows,
    summary="Assessment indicators per department (按期结案率, 结案率, 返工率, ...)",
    responses={**AUTH_ERRORS, **INVALID, **UNAVAILABLE},
)
def departments(
    deps: Deps,
    token: CentreOrDepartment,
    start: Start = None,
    end: End = None,
) -> Rows:
    since, until = _period(start, end, timedelta(days=30))
    rows = _stats(deps).departments(since, until)
    own = own_department(token)
    if own is not None:
        rows = [row for row in rows if row.get("department") == own]
    return Rows(start=since, end=until, items=rows)


@router.get(
    "/areas",
    response_model=Rows,
    summary="Assessment indicators per street (街道) or community (社区)",
    responses={**AUTH_ERRORS, **INVALID, **UNAVAILABLE},
)
def areas(
    deps: Deps,
    token: Centre,
    level: Annotated[Literal["street", "community"], Query()] = "street",
    start: Start = None,
    end: End = None,
) -> Rows:
    since, until = _period(start, end, timedelta(days=30))
    return Rows(start=since, end=until, items=_stats(deps).areas(since, until, level))


@router.get(
    "/grid-workers",
    response_model=Rows,
    summary="Assessment indicators per grid worker (上报数, 核查数, 核查通过率)",
    responses={**AUTH_ERRORS, **INVALID, **UNAVAILABLE},
)
def grid_workers(
    deps: Deps,
    token: Centre,
    start: Start = None,
    end: End = None,
) -> Rows:
    since, until = _period(start, end, timedelta(days=30))
    return Rows(start=since, end=until, items=_stats(deps).grid_workers(since, until))


@router.get(
    "/windows",
    summary="Reports per hotspot window (grid × category × source) against the rule's baseline",
    responses={**AUTH_ERRORS, **INVALID, **UNAVAILABLE},
)
def hotspot_windows(
    deps: Deps,
    token: Centre,
    hours: Annotated[int, Query(ge=1, le=168, description="how many hours back")] = 24,
    grid_code: Annotated[str | None, Query(pattern=r"^\d{15}$")] = None,
    category: Annotated[str | None, Query(max_length=64)] = None,
    source: Annotated[str | None, Query(max_length=256)] = None,
) -> dict[str, Any]:
    return _stats(deps).windows(
        deps.district.hotspots, hours=hours, grid_code=grid_code, category=category, source=source
    )
