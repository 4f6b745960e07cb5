"""Open311 service requests both ways, as pure functions (no I/O, the time passed in):

- in: the form of ``POST requests`` as a :class:`~schemas.reports.ReportSubmission`
  (:func:`parse_form`, :func:`submission`) — a point (``lat``/``long``, WGS84 or
  GCJ-02 with ``attribute[crs]``), a grid (``address_id``, ``attribute[grid_code]``,
  or an ``address_string`` naming one of our grids), when (``attribute[occurred_at]``)
  and who (``first_name``, ``last_name``, ``phone``);
- the arguments of ``GET requests`` as a :class:`RequestQuery` (:func:`request_query`);
- out: a case as a service request (:func:`service_request`): ``open`` while the
  case is live (open, dispatched, in progress, resolved awaiting verification),
  ``closed`` once it is closed, rejected or merged, with ``status_notes`` saying
  which (never an operator's reason). What is public follows
  :mod:`schemas.publicdata`: no free text (a reporter's or an operator's), the
  location snapped to about 100 m.

Refusals raise :class:`~gateway.open311.render.Open311Error`: 400, or 404 for a
``service_code`` we do not have.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from gateway.open311.render import Open311Error, w3c
from gateway.open311.services import ATTRIBUTE_CODES
from gateway.ports import DistrictData
from routing.provenance import FUTURE_SKEW
from schemas.envelope import describe_validation_error
from schemas.publicdata import snap_point
from schemas.reports import GRID_CODE_PATTERN, MAX_DESCRIPTION, ReportSubmission

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_FIELDS = 64
MAX_WINDOW = timedelta(days=90)
MAX_REQUESTS = 100  # public reads: a small page
DEFAULT_REQUESTS = 50
MAX_IDS = 50

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)

CLOSED_STATES = frozenset({"closed", "rejected", "merged"})
OPEN_STATES = frozenset({"open", "dispatched", "in_progress", "resolved"})

_GRID_CODE = re.compile(GRID_CODE_PATTERN)
_ATTRIBUTE = re.compile(r"^attribute\[([^\[\]]{1,64})\](\[\])?$")
_EMBEDDED_GRID = re.compile(r"(?<!\d)\d{15}(?!\d)")


# -- in: the POST form ---------------------------------------------------------------------


def parse_form(content_type: str, body: bytes) -> dict[str, str]:
    """The fields of a form-encoded body (``content_type`` without parameters).
    A field sent empty counts as not sent; of a field sent twice, the first wins."""
    if content_type != FORM_CONTENT_TYPE:
        raise Open311Error(
            400, f"send the request as {FORM_CONTENT_TYPE}, not {content_type or '(none)'}"
        )
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=False,
            max_num_fields=MAX_FORM_FIELDS,
        )
    except UnicodeDecodeError as exc:
        raise Open311Error(400, f"the form is not UTF-8 ({exc.reason})") from exc
    except ValueError as exc:
        raise Open311Error(400, f"invalid form: {exc}") from exc
    form: dict[str, str] = {}
    for name, value in pairs:
        value = value.strip()
        if value and name not in form:
            form[name] = value
    return form


def attributes(form: Mapping[str, str]) -> dict[str, str]:
    """The ``attribute[code]`` fields by code; an attribute no service takes is a 400."""
    found: dict[str, str] = {}
    for name, value in form.items():
        match = _ATTRIBUTE.match(name)
        if match is None:
            continue
        code = match.group(1)
        if code not in ATTRIBUTE_CODES:
            raise Open311Error(
                400, f"unknown attribute {code!r}; this service takes {sorted(ATTRIBUTE_CODES)}"
            )
        found[code] = value
    return found


def submission(form: Mapping[str, str], district: DistrictData, now: datetime) -> ReportSubmission:
    """The report a ``POST requests`` form describes, before it is placed on a grid."""
    code = form.get("service_code")
    if not code:
        raise Open311Error(400, "service_code was not provided")
    category = district.taxonomy.get(code)
    if category is None:
        raise Open311Error(404, f"service_code {code[:64]!r} not found")
    attrs = attributes(form)
    crs = attrs.get("crs", "wgs84")
    if crs not in ("wgs84", "gcj02"):
        raise Open311Error(400, "attribute[crs] must be wgs84 or gcj02")
    location: dict[str, Any] | None = None
    grid_code = attrs.get("grid_code") or form.get("address_id")
    if ("lat" in form) != ("long" in form):
        raise Open311Error(400, "lat and long must be sent together")
    if "lat" in form:
        location = {
            "lat": _number(form, "lat", -90, 90),
            "lon": _number(form, "long", -180, 180),
            "crs": crs,
        }
    elif grid_code is None and "address_string" in form:
        grid_code = grid_named(form["address_string"], district)
    if location is None and grid_code is None:
        raise Open311Error(
            400,
            "a location is required: lat & long, address_id (a 15-digit grid code), "
            "or an address_string naming one of our grids",
        )
    if grid_code is not None and not _GRID_CODE.match(grid_code):
        raise Open311Error(400, f"grid code {grid_code[:32]!r} is not 15 digits")
    description = form.get("description") or category.name_zh
    if len(description) > MAX_DESCRIPTION:
        raise Open311Error(400, f"description is longer than {MAX_DESCRIPTION} characters")
    name = " ".join(part for part in (form.get("last_name"), form.get("first_name")) if part)
    reporter = (
        {"name": name or None, "phone": form.get("phone")} if name or "phone" in form else None
    )
    data: dict[str, Any] = {
        "category": code,
        "description": description,
        "location": location,
        "grid_code": grid_code if location is None else attrs.get("grid_code"),
        "occurred_at": _occurred_at(attrs.get("occurred_at"), now),
        "reporter": reporter,
    }
    try:
        return ReportSubmission.model_validate(data)
    except ValidationError as exc:
        raise Open311Error(400, describe_validation_error(exc)) from exc


def grid_named(address: str, district: DistrictData) -> str:
    """The grid an address names: a 15-digit code in it, else the longest grid name in it."""
    for code in _EMBEDDED_GRID.findall(address):
        if district.grids.get(code) is not None:
            return str(code)
    named = [grid for grid in district.grids if grid.name and grid.name in address]
    if not named:
        raise Open311Error(
            400,
            "address_string does not name one of our grids; send lat & long, or address_id "
            "(a 15-digit unit-grid code)",
        )
    return max(named, key=lambda grid: len(grid.name)).code


def _number(form: Mapping[str, str], name: str, low: float, high: float) -> float:
    try:
        value = float(form[name])
    except ValueError:
        raise Open311Error(400, f"{name} must be a number") from None
    if not (math.isfinite(value) and low <= value <= high):
        raise Open311Error(400, f"{name} must be between {low:g} and {high:g}")
    return value


def _occurred_at(text: str | None, now: datetime) -> datetime | None:
    if text is None:
        return None
    moment = parse_w3c(text, "attribute[occurred_at]")
    if moment > now + FUTURE_SKEW:
        raise Open311Error(400, "attribute[occurred_at] is in the future")
    return moment


def parse_w3c(text: str, name: str) -> datetime:
    """A W3C datetime (ISO 8601 with a time zone), in UTC, between the years 2000
    and 2100 (far dates would overflow the arithmetic on them)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise Open311Error(
            400, f"{name} must be ISO 8601 with a time zone, e.g. 2010-01-01T00:00:00Z"
        ) from None
    if moment.tzinfo is None:
        raise Open311Error(400, f"{name} must include a time zone (Z or +HH:MM)")
    if not EARLIEST.year <= moment.year <= LATEST.year - 1:
        raise Open311Error(400, f"{name} must be between {EARLIEST.year} and {LATEST.year}")
    return moment.astimezone(UTC)


# -- GET requests: the arguments -------------------------------------------------------------


@dataclass(frozen=True)
class RequestQuery:
    """What ``GET requests`` asks for: by ``ids``, or by the other filters."""

    limit: int = DEFAULT_REQUESTS
    ids: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    states: frozenset[str] | None = None  # None: every state
    start: datetime | None = None
    end: datetime | None = None


def request_query(
    district: DistrictData,
    now: datetime,
    *,
    service_request_id: str | None = None,
    service_code: str | None = None,
    status: str | None = None,
    start_date: str | None = None,
    end_date: str | None = None,
    limit: str | None = None,
) -> RequestQuery:
    """The arguments of ``GET requests``: ``service_request_id`` (comma-separated)
    overrides the others; ``service_code`` and ``status`` (open, closed) are
    comma-separated; the dates default to the 90 days up to ``now``."""
    count = DEFAULT_REQUESTS
    if limit:
        if not limit.isdigit() or not 1 <= int(limit) <= MAX_REQUESTS:
            raise Open311Error(400, f"limit must be a whole number from 1 to {MAX_REQUESTS}")
        count = int(limit)
    ids = _split(service_request_id)
    if ids:
        if len(ids) > MAX_IDS:
            raise Open311Error(400, f"at most {MAX_IDS} service_request_id values at once")
        return RequestQuery(limit=count, ids=ids)
    codes = _split(service_code)
    unknown = [code for code in codes if code not in district.taxonomy]
    if unknown:
        raise Open311Error(400, f"unknown service_code {', '.join(unknown)[:200]}")
    statuses = _split(status)
    if any(s not in ("open", "closed") for s in statuses):
        raise Open311Error(400, "status must be open, closed or both (comma-separated)")
    states: frozenset[str] | None = None
    if statuses:
        states = (OPEN_STATES if "open" in statuses else frozenset()) | (
            CLOSED_STATES if "closed" in statuses else frozenset()
        )
    start, end = window(start_date, end_date, now)
    return RequestQuery(limit=count, categories=codes, states=states, start=start, end=end)


def window(
    start_date: str | None, end_date: str | None, now: datetime
) -> tuple[datetime, datetime]:
    """``[start, end]`` of the dates sent: at most 90 days; a missing one is 90
    days from the other, both missing the 90 days up to ``now``."""
    start = parse_w3c(start_date, "start_date") if start_date else None
    end = parse_w3c(end_date, "end_date") if end_date else None
    if start is None:
        end = end or now
        start = end - MAX_WINDOW
    elif end is None:
        end = start + MAX_WINDOW
    if start > end:
        raise Open311Error(400, "start_date is after end_date")
    if end - start > MAX_WINDOW:
        raise Open311Error(400, "start_date to end_date may not span more than 90 days")
    return start, end


def _split(text: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (text or "").split(",") if part.strip())


# -- out: a case as a service request ---------------------------------------------------------


def status_of(state: str) -> str:
    return "closed" if state in CLOSED_STATES else "open"


def status_notes(case: Mapping[str, Any], agency: str | None) -> str:
    state = str(case.get("state"))
    who = agency or "责任部门"
    match state:
        case "open":
            return "已受理，等待分拨 (received, awaiting triage)"
        case "dispatched":
            return f"已派遣至{who} (dispatched to the responsible department)"
        case "in_progress":
            return f"{who}正在处置 (being handled)"
        case "resolved":
            return "已处置，待现场核查 (resolved, awaiting on-site verification)"
        case "closed":
            return "已核查结案 (verified and closed)"
        case "rejected":  # the operator's reason is free text: not for public reads
            return "不予立案 (rejected)"
        case "merged":
            into = case.get("merged_into")
            return f"重复事项，已并入 {into} (duplicate of service request {into})"
    return state


def service_request(
    case: Mapping[str, Any], district: DistrictData, tz: ZoneInfo
) -> dict[str, Any]:
    """A case (``sinks.open311`` row, of a public category) as a GeoReport v2
    service request, as the public may see it: no free text, the location
    snapped to about 100 m."""
    code = str(case.get("category"))
    category = district.taxonomy.get(code)
    lead = case.get("lead_department")
    department = district.departments.get(str(lead)) if lead else None
    agency = department.name_zh if department is not None else (str(lead) if lead else None)
    grid_code = str(case.get("grid_code") or "")
    grid = district.grids.get(grid_code) if grid_code else None
    address = (
        f"{grid.name}, {grid.community_name}, {grid.street_name}" if grid is not None else None
    )
    location = case.get("location") or {}
    lat, lon = location.get("lat"), location.get("lon")
    if lat is not None and lon is not None:  # no finer than ~100 m in public (DESIGN.md §8)
        lat, lon = snap_point(float(lat), float(lon))
    state = str(case.get("state"))
    closed = state in CLOSED_STATES
    updated = case.get("closed_at") if closed and case.get("closed_at") else case.get("updated_at")
    return {
        "service_request_id": str(case.get("id")),
        "status": status_of(state),
        "status_notes": status_notes(case, agency),
        "service_name": category.name_zh if category is not None else code,
        "service_code": code,
        "description": None,  # reporters' free text is never public (DESIGN.md §8)
        "agency_responsible": agency,
        "service_notice": f"优先级 {case.get('priority')} (priority)"
        if case.get("priority")
        else None,
        "requested_datetime": w3c(case.get("opened_at"), tz),
        "updated_datetime": w3c(updated, tz),
        "expected_datetime": None if closed else w3c(case.get("resolve_by"), tz),
        "address": address,
        "address_id": grid_code or None,
        "zipcode": None,
        "lat": lat,
        "long": lon,
        "media_url": None,
    }
