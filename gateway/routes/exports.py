"""Files for leaders and the duty office (the ``/reports/`` page): the case list as
CSV and the daily brief as HTML, PDF, Markdown or JSON.

- ``GET /api/v1/exports/cases.csv`` takes the filters of ``GET /api/v1/cases`` and
  the same roles: a department exports only its own cases. Like the list, it
  carries no personal data (reporters' names and phones stay in the case detail,
  for operators). Cells that a spreadsheet would read as a formula are quoted
  with a leading ``'``; the file is UTF-8 with a BOM so spreadsheets read the
  Chinese text right.
- ``GET /api/v1/briefs/{day}?format=html|pdf|md|json`` renders the brief of that
  local day on demand (the :class:`~gateway.ports.BriefReader` port: the day's
  figures and the hotspot alerts the duty office was told of).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import date, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse

from gateway.auth import Centre, CentreOrDepartment, own_department
from gateway.deps import Deps, GatewayDeps
from gateway.errors import ErrorOut, invalid_fields
from gateway.ports import BriefReader
from gateway.routes.cases import CODE_PATTERN
from gateway.routes.common import AUTH_ERRORS, INVALID
from schemas.cases import CaseState, Priority, SlaState
from schemas.periods import PeriodKind, period_of
from sinks.brief_files import render_pdf
from sinks.briefs import DEFAULT_TZ, BriefNames, render_html
from sinks.briefs import render_markdown as brief_markdown

router = APIRouter(prefix="/api/v1", tags=["exports"])

MAX_EXPORT_ROWS = 20_000
PAGE = 500
CSV_COLUMNS = (
    "id",
    "state",
    "priority",
    "category",
    "category_name",
    "title",
    "grid_code",
    "street_code",
    "street_name",
    "community_code",
    "lead_department",
    "departments",
    "report_count",
    "sla_state",
    "respond_by",
    "resolve_by",
    "opened_at",
    "updated_at",
    "closed_at",
    "rework_count",
    "escalation_level",
    "merged_into",
    "satisfaction",
    "source",
    "external_ref",
)
# A cell starting with one of these is a formula to a spreadsheet (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {
        "model": ErrorOut,
        "description": "briefs are not available here, or the case database is not reachable",
    }
}


def _briefs(deps: GatewayDeps) -> BriefReader:
    if deps.briefs is None:
        raise HTTPException(status_code=503, detail="briefs are not available here")
    return deps.briefs


def _names(deps: GatewayDeps) -> BriefNames:
    """Chinese names of categories, streets and departments (codes otherwise)."""
    district = deps.district
    return BriefNames(
        categories={c.code: c.name_zh for c in district.taxonomy},
        streets=district.grids.streets(),
        departments={code: d.name_zh for code, d in district.departments.items()},
    )


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return ";".join(str(v) for v in value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _row(case: dict[str, Any], names: BriefNames) -> list[str]:
    extra = {
        "category_name": names.categories.get(str(case.get("category")), ""),
        "street_name": names.streets.get(str(case.get("street_code")), ""),
    }
    return [_cell(extra[c] if c in extra else case.get(c)) for c in CSV_COLUMNS]


def _csv_lines(rows: Iterator[list[str]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    yield "\ufeff"
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(row)
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


@router.get(
    "/exports/cases.csv",
    summary="The case list as CSV: the filters and roles of GET /api/v1/cases",
    response_class=StreamingResponse,
    responses={
        **AUTH_ERRORS,
        **INVALID,
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "CSV"},
    },
)
def export_cases(
    deps: Deps,
    token: CentreOrDepartment,
    state: CaseState | None = None,
    category: Annotated[str | None, Query(max_length=64)] = None,
    grid: Annotated[str | None, Query(pattern=CODE_PATTERN)] = None,
    street: Annotated[str | None, Query(pattern=r"^[0-9]{9}$")] = None,
    department: Annotated[str | None, Query(max_length=64)] = None,
    priority: Priority | None = None,
    sla_state: SlaState | None = None,
    q: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    since: Annotated[datetime | None, Query(description="opened at or after")] = None,
    until: Annotated[datetime | None, Query(description="opened before")] = None,
) -> StreamingResponse:
    foreign = False  # a department asking for another department's cases: none
    own = own_department(token)
    if own is not None:
        foreign = department is not None and department != own
        department = own
    filters: dict[str, Any] = {
        "state": state.value if state else None,
        "category": category,
        "department": department,
        "priority": priority.value if priority else None,
        "street": street,
        "sla_state": sla_state.value if sla_state else None,
        "q": q,
        "since": since,
        "until": until,
        "grid_prefixes": [grid] if grid else None,
    }
    first, total = ([], 0) if foreign else deps.queries.list_cases(limit=PAGE, **filters)
    if total > MAX_EXPORT_ROWS:
        raise invalid_fields(
            [
                (
                    ("query", "since"),
                    f"{total} cases match; an export holds at most {MAX_EXPORT_ROWS}: "
                    "narrow the filters (e.g. since/until)",
                    None,
                )
            ]
        )
    names = _names(deps)

    def rows() -> Iterator[list[str]]:
        page, offset = first, 0
        while page:
            yield from (_row(case, names) for case in page)
            offset += PAGE
            if offset >= total:
                return
            page, _ = deps.queries.list_cases(limit=PAGE, offset=offset, **filters)

    stamp = datetime.now(ZoneInfo(DEFAULT_TZ)).strftime("%Y%m%d-%H%M")
    return StreamingResponse(
        _csv_lines(rows()),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="gridhub-cases-{stamp}.csv"',
            "X-Total-Count": str(total),
            "Cache-Control": "no-store",
        },
    )


FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)
BriefFormat = Literal["html", "pdf", "md", "json"]
BriefSpan = Literal["day", "week", "month"]
_MEDIA_TYPES = {
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "md": "text/markdown; charset=utf-8",
    "json": "application/json",
}


@router.get(
    "/briefs/{day}",
    summary=(
        "The brief of one local day, or of the week or month it falls in, rendered now "
        "(HTML, PDF, Markdown or JSON)"
    ),
    response_class=Response,
    responses={
        **AUTH_ERRORS,
        **INVALID,
        **UNAVAILABLE,
        200: {
            "content": {media: {"schema": {"type": "string"}} for media in _MEDIA_TYPES.values()},
            "description": "the brief",
        },
    },
)
async def brief(
    deps: Deps,
    token: Centre,
    day: Annotated[date, Path(description="the local calendar day, YYYY-MM-DD")],
    format: Annotated[BriefFormat, Query(description="html, pdf, md or json")] = "html",  # noqa: A002
    period: Annotated[
        BriefSpan, Query(description="day; or week (Monday first) or month containing the day")
    ] = "day",
    tz: Annotated[
        str, Query(pattern=r"^[A-Za-z][A-Za-z0-9_+\-/]{0,63}$", description="IANA time zone")
    ] = DEFAULT_TZ,
    download: Annotated[bool, Query(description="as an attachment")] = False,
) -> Response:
    if not FIRST_DAY <= day <= LAST_DAY:
        raise invalid_fields(
            [(("path", "day"), f"a day from {FIRST_DAY} to {LAST_DAY}", day.isoformat())]
        )
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise invalid_fields([(("query", "tz"), "unknown time zone", tz)]) from exc
    briefs = _briefs(deps)
    names = _names(deps)
    span = None if period == "day" else period_of(PeriodKind(period), day, tz)

    def build() -> bytes:
        if span is None:
            made = briefs.daily_brief(day, tz, names)
        else:
            made = briefs.period_brief(span, names)
        if format == "pdf":
            return render_pdf(made)
        if format == "md":
            return brief_markdown(made).encode()
        if format == "json":
            return json.dumps(made.to_json(), ensure_ascii=False, indent=2).encode()
        return render_html(made).encode()

    body = await run_in_threadpool(build)
    headers = {"Cache-Control": "no-store"}
    if download or format == "pdf":
        disposition = "attachment" if download else "inline"
        name = f"brief-{day}" if span is None else f"brief-{span.label}"
        headers["Content-Disposition"] = f'{disposition}; filename="{name}.{format}"'
    if format == "html":  # a document from data: nothing in it may run
        headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return Response(body, media_type=_MEDIA_TYPES[format], headers=headers)
