"""三公开: ``GET /api/v1/public/...`` — figures anyone may read, with no token.

Department and street scorecards for a week, month or quarter (ranked, with the
period before for the trend), cases by category, street and day, closed-case
stories, the names the page needs, and the printable monthly bulletin (PDF).
No personal data, no free text, only categories the taxonomy flags public and
places no finer than a street (:mod:`schemas.publicdata`, :mod:`sinks.public`).

Every answer comes from :class:`gateway.publiccache.TtlCache` (one database
read per question and TTL, however many readers) and says ``Cache-Control:
public`` so browsers and proxies keep it too."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query, Response
from fastapi.responses import JSONResponse

from gateway.auth import PUBLIC_READ
from gateway.deps import Deps, GatewayDeps
from gateway.errors import ErrorOut, invalid_fields
from gateway.ports import PublicReader
from schemas.periods import Period, PeriodKind, period_of
from sinks.briefs import BriefNames
from sinks.bulletin import render_bulletin

router = APIRouter(prefix="/api/v1/public", tags=["public"], dependencies=PUBLIC_READ)

UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorOut, "description": "public figures are not available here"}
}
EARLIEST = date(2000, 1, 1)

PeriodQuery = Annotated[PeriodKind, Query(description="week, month or quarter")]
DayQuery = Annotated[
    date | None, Query(alias="date", description="a day in the period; default today")
]


def _public(deps: GatewayDeps) -> PublicReader:
    if deps.public is None:
        raise HTTPException(status_code=503, detail="public figures are not available here")
    return deps.public


def _period(deps: GatewayDeps, kind: PeriodKind, day: date | None) -> Period:
    today = datetime.now(ZoneInfo(deps.tz)).date()
    day = day or today
    if not EARLIEST <= day <= today:
        raise invalid_fields(
            [(("query", "date"), f"date must be between {EARLIEST} and today", day.isoformat())]
        )
    return period_of(kind, day, deps.tz)


def _headers(deps: GatewayDeps) -> dict[str, str]:
    return {"Cache-Control": f"public, max-age={int(deps.public_cache.ttl)}"}


async def _cached(deps: GatewayDeps, key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
    return await deps.public_cache.get(key, compute)


def _about(period: Period) -> dict[str, Any]:
    return {
        "period": period.kind.value,
        "label": period.label,
        "start": period.first_day.isoformat(),
        "end": period.end_day.isoformat(),
        "tz": period.tz,
    }


def public_names(deps: GatewayDeps) -> dict[str, Any]:
    """The names of what public figures mention: public categories, streets, departments."""
    district = deps.district
    return {
        "categories": [
            {"code": c.code, "name_zh": c.name_zh, "name_en": c.name_en}
            for c in district.taxonomy
            if c.public
        ],
        "streets": district.grids.streets(),
        "departments": {
            code: {"name_zh": d.name_zh, "name_en": d.name_en}
            for code, d in district.departments.items()
        },
    }


@router.get("/names", summary="Names of the public categories, streets and departments")
async def names(deps: Deps) -> JSONResponse:
    body = await _cached(deps, ("names",), lambda: public_names(deps))
    return JSONResponse(body, headers=_headers(deps))


@router.get(
    "/scorecards",
    summary="Department and street scorecards for a period, ranked, with the period before",
    responses=UNAVAILABLE,
)
async def scorecards(
    deps: Deps, period: PeriodQuery = PeriodKind.MONTH, day: DayQuery = None
) -> JSONResponse:
    chosen = _period(deps, period, day)
    reader = _public(deps)
    cards = await _cached(deps, ("scorecards", chosen), lambda: reader.scorecards(chosen))
    return JSONResponse({**_about(chosen), **cards}, headers=_headers(deps))


@router.get(
    "/counts",
    summary="Cases opened in a period by category, street and day (public categories)",
    responses=UNAVAILABLE,
)
async def counts(
    deps: Deps, period: PeriodQuery = PeriodKind.MONTH, day: DayQuery = None
) -> JSONResponse:
    chosen = _period(deps, period, day)
    reader = _public(deps)
    body = await _cached(deps, ("counts", chosen), lambda: reader.counts(chosen))
    return JSONResponse({**_about(chosen), **body}, headers=_headers(deps))


@router.get(
    "/stories",
    summary="Cases closed in a period: category, street and the dates opened and closed",
    responses=UNAVAILABLE,
)
async def stories(  # type: ignore[no-untyped-def]
    deps: Deps,
    period: PeriodQuery = PeriodKind.MONTH,
    day: DayQuery = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
):
    chosen = _period(deps, period, day)
    reader = _public(deps)
    items = await _cached(deps, ("stories", chosen, limit), lambda: reader.stories(chosen, limit))
    return JSONResponse({**_about(chosen), "items": items}, headers=_headers(deps))


@router.get(
    "/bulletin.pdf",
    summary="The printable monthly bulletin (PDF)",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}, **UNAVAILABLE},
)
async def bulletin(deps: Deps, day: DayQuery = None) -> Response:
    chosen = _period(deps, PeriodKind.MONTH, day)
    reader = _public(deps)

    def render() -> bytes:
        named = public_names(deps)
        names = BriefNames(
            categories={c["code"]: c["name_zh"] for c in named["categories"]},
            streets=named["streets"],
            departments={k: v["name_zh"] for k, v in named["departments"].items()},
        )
        return render_bulletin(
            chosen,
            reader.scorecards(chosen),
            reader.counts(chosen),
            reader.stories(chosen, 200),
            names,
        )

    pdf = await _cached(deps, ("bulletin", chosen), render)
    filename = f"gridhub-bulletin-{chosen.label}.pdf"
    return Response(
        pdf,
        media_type="application/pdf",
        headers={**_headers(deps), "Content-Disposition": f'inline; filename="{filename}"'},
    )
