"""Open311 GeoReport v2 under ``/open311/v2/`` (discovery, services, service
definitions, requests, tokens; ``.json`` and ``.xml``).

Reads are public (DESIGN.md §8). ``POST requests`` needs an ``api_key``: a
GridHub token of role ``system`` or ``grid_worker`` (an admin's works too). A
service request is a case, and a case id is decided by the worker (a report may
join a live case), so ``POST requests`` answers a ``token`` (the report id) and
``GET tokens/{token}`` gives the ``service_request_id`` once the case exists
(services are of ``type`` ``batch``).

Errors are GeoReport v2 errors (``[{code, description}]`` / ``<errors>``) in the
requested format, with the spec's HTTP statuses: 404 for what does not exist,
403 for a missing or invalid ``api_key``, 400 for anything else (invalid
arguments included). Optional arguments sent empty count as not sent.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Coroutine, Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from gateway import intake
from gateway.cloudevents_http import media_type
from gateway.deps import GatewayDeps, get_deps
from gateway.open311 import (
    ATTRIBUTE_CODES,
    CLOSED_STATES,
    OPEN_STATES,
    Format,
    errors,
    render,
    service,
    service_definition,
    service_request,
)
from gateway.open311 import discovery as discovery_doc
from gateway.ports import DistrictData, TokenInfo
from gateway.systems import ServiceRequestReader
from routing.placement import PlacementRefused
from schemas.envelope import describe_validation_error
from schemas.envelope import now_utc as utc_now
from schemas.policy import ADMIN, GRID_WORKER, SYSTEM, grid_in_scope
from schemas.reports import GRID_CODE_PATTERN, MAX_DESCRIPTION, ReportSubmission

PREFIX = "/open311/v2"
log = logging.getLogger(__name__)

MAX_WINDOW = timedelta(days=90)
MAX_REQUESTS = 1000
MAX_IDS = 200
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_FIELDS = 64
POSTING_ROLES = frozenset({SYSTEM, GRID_WORKER, ADMIN})
_GRID_CODE = re.compile(GRID_CODE_PATTERN)
_ATTRIBUTE = re.compile(r"^attribute\[([^\[\]]{1,64})\](\[\])?$")
_EMBEDDED_GRID = re.compile(r"(?<!\d)\d{15}(?!\d)")


class Open311Error(Exception):
    """An error answered in GeoReport v2 form; ``code`` defaults to the HTTP status."""

    def __init__(
        self,
        status_code: int,
        description: str,
        *,
        code: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(description)
        self.status_code = status_code
        self.code = code if code is not None else status_code
        self.description = description
        self.headers = dict(headers or {})


def _format_of(request: Request) -> Format:
    return Format.XML if request.path_params.get("format") == Format.XML else Format.JSON


def _describe(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("query", "path", "header", "body")]
        parts.append(f"{'.'.join(loc) or 'request'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


class Open311Route(APIRoute):
    """Answers every refusal of an Open311 route as GeoReport v2 errors."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except Open311Error as exc:
                fmt = _format_of(request)
                return errors(fmt, exc.status_code, [(exc.code, exc.description)], exc.headers)
            except RequestValidationError as exc:
                return errors(_format_of(request), 400, [(400, _describe(exc))])
            except HTTPException as exc:
                return errors(
                    _format_of(request),
                    exc.status_code,
                    [(exc.status_code, str(exc.detail))],
                    exc.headers,
                )

        return guarded


router = APIRouter(prefix=PREFIX, tags=["open311"], route_class=Open311Route)


# -- documentation models (the responses are rendered by gateway.open311) -----------------


class ErrorItem(BaseModel):
    code: int = Field(description="usually the HTTP status; 503 for a temporary failure")
    description: str


class Endpoint(BaseModel):
    specification: str
    url: str
    changeset: str
    type: str = Field(description="production or test")
    formats: list[str]


class Discovery(BaseModel):
    changeset: str
    contact: str
    key_service: str
    endpoints: list[Endpoint]


class Service(BaseModel):
    service_code: str
    service_name: str
    description: str
    metadata: bool
    type: str = Field(description="realtime, batch or blackbox (ours: batch)")
    keywords: str
    group: str


class AttributeValue(BaseModel):
    key: str
    name: str


class Attribute(BaseModel):
    variable: bool
    code: str
    datatype: str
    required: bool
    datatype_description: str | None
    order: int
    description: str
    values: list[AttributeValue] | None = None


class ServiceDefinition(BaseModel):
    service_code: str
    attributes: list[Attribute]


class RequestCreated(BaseModel):
    token: str = Field(description="GET tokens/{token} gives the service_request_id")
    service_notice: str | None
    account_id: str | None


class TokenAnswer(BaseModel):
    service_request_id: str
    token: str


class ServiceRequest(BaseModel):
    service_request_id: str
    status: str = Field(description="open or closed")
    status_notes: str | None
    service_name: str
    service_code: str
    description: str | None
    agency_responsible: str | None
    service_notice: str | None
    requested_datetime: str | None = Field(description="ISO 8601 with offset")
    updated_datetime: str | None
    expected_datetime: str | None
    address: str | None
    address_id: str | None
    zipcode: str | None
    lat: float | None
    long: float | None
    media_url: str | None


_XML = {"text/xml": {"schema": {"type": "string", "description": "the same document as XML"}}}
_ERROR_DOC = {"model": list[ErrorItem], "content": _XML}


def _responses(model: Any, *extra: int) -> dict[int | str, dict[str, Any]]:
    docs: dict[int | str, dict[str, Any]] = {
        200: {"model": model, "content": _XML, "description": "JSON or XML, by the extension"},
        400: {**_ERROR_DOC, "description": "invalid or missing argument"},
        "4XX": {**_ERROR_DOC, "description": "GeoReport v2 errors"},
    }
    for status in extra:
        docs[status] = {**_ERROR_DOC, "description": _STATUS_TEXT[status]}
    return docs


_STATUS_TEXT = {
    403: "api_key missing, invalid, or not allowed to do this",
    404: "no such jurisdiction, service, request or token",
}

FormatPath = Annotated[Format, Path(description="json or xml")]
Jurisdiction = Annotated[
    str | None,
    Query(max_length=256, description="optional: this endpoint serves one jurisdiction"),
]


def _check_jurisdiction(deps: GatewayDeps, jurisdiction_id: str | None) -> None:
    ours = deps.systems.open311.jurisdiction_id
    if ours and jurisdiction_id and jurisdiction_id != ours:
        raise Open311Error(404, f"jurisdiction_id {jurisdiction_id!r} not found (this is {ours})")


def _reader(deps: GatewayDeps) -> ServiceRequestReader:
    reader = deps.systems.service_requests
    if reader is None:
        raise Open311Error(400, "Open311 requests are not configured on this gateway", code=503)
    return reader


def _tz(deps: GatewayDeps) -> ZoneInfo:
    return ZoneInfo(deps.systems.open311.tz)


# -- discovery and services ----------------------------------------------------------------


@router.get(
    "/discovery.{format}",
    summary="Service discovery",
    response_class=Response,
    responses=_responses(Discovery),
)
def get_discovery(
    request: Request,
    format: FormatPath,
    deps: Annotated[GatewayDeps, Depends(get_deps)],
) -> Response:
    config = deps.systems.open311
    url = config.public_url or str(request.base_url).rstrip("/") + PREFIX
    doc = discovery_doc(
        config.changeset, config.contact, config.key_service, url, config.endpoint_type
    )
    return render(format, "discovery", doc)


@router.get(
    "/services.{format}",
    summary="GET Service List: our categories",
    response_class=Response,
    responses=_responses(list[Service], 404),
)
def get_services(
    format: FormatPath,
    deps: Annotated[GatewayDeps, Depends(get_deps)],
    jurisdiction_id: Jurisdiction = None,
) -> Response:
    _check_jurisdiction(deps, jurisdiction_id)
    return render(format, "services", [service(c) for c in deps.district.taxonomy])


@router.get(
    "/services/{service_code}.{format}",
    summary="GET Service Definition: the attributes of a service",
    response_class=Response,
    responses=_responses(ServiceDefinition, 404),
)
def get_service_definition(
    service_code: Annotated[str, Path(max_length=64)],
    format: FormatPath,
    deps: Annotated[GatewayDeps, Depends(get_deps)],
    jurisdiction_id: Jurisdiction = None,
) -> Response:
    _check_jurisdiction(deps, jurisdiction_id)
    category = deps.district.taxonomy.get(service_code)
    if category is None:
        raise Open311Error(404, f"service_code {service_code!r} not found")
    return render(format, "service_definition", service_definition(category))


# -- POST requests ---------------------------------------------------------------------------

_FORM_FIELDS: dict[str, dict[str, Any]] = {
    "api_key": {"type": "string", "description": "a token of role system or grid_worker"},
    "jurisdiction_id": {"type": "string"},
    "service_code": {"type": "string", "description": "from GET services"},
    "lat": {"type": "number", "description": "WGS84 (or GCJ-02 with attribute[crs]=gcj02)"},
    "long": {"type": "number"},
    "address_string": {
        "type": "string",
        "description": "placed only if it names one of our grids (name or 15-digit code)",
    },
    "address_id": {"type": "string", "description": "a 15-digit unit-grid code"},
    "email": {"type": "string", "description": "accepted, not stored"},
    "device_id": {"type": "string", "description": "accepted, not stored"},
    "account_id": {"type": "string", "description": "echoed in the answer"},
    "first_name": {"type": "string"},
    "last_name": {"type": "string"},
    "phone": {"type": "string"},
    "description": {"type": "string", "maxLength": MAX_DESCRIPTION},
    "media_url": {"type": "string", "description": "accepted, not stored"},
    "attribute[occurred_at]": {"type": "string", "description": "ISO 8601 with offset"},
    "attribute[grid_code]": {"type": "string", "description": "15-digit unit-grid code"},
    "attribute[crs]": {"type": "string", "enum": ["wgs84", "gcj02"]},
}
POST_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        FORM_CONTENT_TYPE: {
            "schema": {
                "type": "object",
                "properties": _FORM_FIELDS,
                "required": ["api_key", "service_code"],
            }
        }
    },
}


@router.post(
    "/requests.{format}",
    summary="POST Service Request (form-encoded, api_key required)",
    response_class=Response,
    openapi_extra={"requestBody": POST_BODY},
    responses=_responses(list[RequestCreated], 403, 404),
)
async def post_request(
    request: Request,
    format: FormatPath,
    deps: Annotated[GatewayDeps, Depends(get_deps)],
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=128,
            description="same key (per api_key) = same token, so retries are harmless",
        ),
    ] = None,
) -> Response:
    form = await _form(request)
    token = await _api_token(deps, form.get("api_key") or request.query_params.get("api_key"))
    _check_jurisdiction(deps, form.get("jurisdiction_id"))
    district = deps.district
    code = form.get("service_code")
    if not code:
        raise Open311Error(400, "service_code was not provided")
    if code not in district.taxonomy:
        raise Open311Error(404, f"service_code {code[:64]!r} not found")
    attributes = _attributes(form)
    submission = _submission(form, attributes, code, district)
    grid_code = _grid_of(submission, deps)
    if token.role == GRID_WORKER and not grid_in_scope(token.scope, grid_code):
        raise Open311Error(403, f"grid {grid_code} is outside this api_key's scope")
    report_id = intake.report_id(deps, token, idempotency_key, door="open311")
    source = token.scope if token.role == SYSTEM and token.scope else deps.systems.open311_source
    try:
        await intake.publish_report(deps, token, submission, report_id, source=source)
    except HTTPException as exc:  # the bus did not take it
        # GeoReport v2: any failure during create request processing is a 400.
        raise Open311Error(
            400,
            "the service is temporarily unavailable; retry with the same Idempotency-Key",
            code=exc.status_code,
            headers=exc.headers,
        ) from exc
    answer = {
        "token": str(report_id),
        "service_notice": (
            "已受理 (accepted): GET tokens/{token} gives the service_request_id "
            "once the case is opened, usually within seconds"
        ),
        "account_id": form.get("account_id"),
    }
    return render(format, "service_requests", [answer])


async def _form(request: Request) -> dict[str, str]:
    kind = media_type(request.headers.get("content-type"))
    if kind != FORM_CONTENT_TYPE:
        raise Open311Error(400, f"send the request as {FORM_CONTENT_TYPE}, not {kind or '(none)'}")
    body = await request.body()
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
        if value and name not in form:  # empty means not sent; the first value wins
            form[name] = value
    return form


async def _api_token(deps: GatewayDeps, api_key: str | None) -> TokenInfo:
    if not api_key:
        raise Open311Error(403, "api_key was not provided")
    record = await run_in_threadpool(deps.tokens.verify, api_key)
    if record is None:
        raise Open311Error(403, "invalid api_key")
    if deps.rate_limiter is not None:
        wait = deps.rate_limiter.acquire(str(record.id))
        if wait > 0:
            raise Open311Error(
                429,
                "rate limit exceeded for this api_key",
                headers={"Retry-After": str(math.ceil(wait))},
            )
    if record.role not in POSTING_ROLES:
        raise Open311Error(
            403, f"an api_key of role {record.role!r} may not create service requests"
        )
    if record.role == SYSTEM and not record.scope:
        raise Open311Error(403, "this system api_key has no source scope")
    return record


def _attributes(form: Mapping[str, str]) -> dict[str, str]:
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


def _number(form: Mapping[str, str], name: str, low: float, high: float) -> float:
    try:
        value = float(form[name])
    except ValueError:
        raise Open311Error(400, f"{name} must be a number") from None
    if not (math.isfinite(value) and low <= value <= high):
        raise Open311Error(400, f"{name} must be between {low:g} and {high:g}")
    return value


def _occurred_at(text: str | None) -> datetime | None:
    if text is None:
        return None
    moment = _parse_w3c(text, "attribute[occurred_at]")
    if moment > utc_now() + timedelta(minutes=10):
        raise Open311Error(400, "attribute[occurred_at] is in the future")
    return moment


def _submission(
    form: Mapping[str, str],
    attributes: Mapping[str, str],
    code: str,
    district: DistrictData,
) -> ReportSubmission:
    crs = attributes.get("crs", "wgs84")
    if crs not in ("wgs84", "gcj02"):
        raise Open311Error(400, "attribute[crs] must be wgs84 or gcj02")
    location: dict[str, Any] | None = None
    grid_code = attributes.get("grid_code") or form.get("address_id")
    if ("lat" in form) != ("long" in form):
        raise Open311Error(400, "lat and long must be sent together")
    if "lat" in form:
        location = {
            "lat": _number(form, "lat", -90, 90),
            "lon": _number(form, "long", -180, 180),
            "crs": crs,
        }
    elif grid_code is None and "address_string" in form:
        grid_code = _grid_named(form["address_string"], district)
    if location is None and grid_code is None:
        raise Open311Error(
            400,
            "a location is required: lat & long, address_id (a 15-digit grid code), "
            "or an address_string naming one of our grids",
        )
    if grid_code is not None and not _GRID_CODE.match(grid_code):
        raise Open311Error(400, f"grid code {grid_code[:32]!r} is not 15 digits")
    category = district.taxonomy.get(code)
    description = form.get("description") or (category.name_zh if category else code)
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
        "grid_code": grid_code if location is None else attributes.get("grid_code"),
        "occurred_at": _occurred_at(attributes.get("occurred_at")),
        "reporter": reporter,
    }
    try:
        return ReportSubmission.model_validate(data)
    except ValidationError as exc:
        raise Open311Error(400, describe_validation_error(exc)) from exc


def _grid_named(address: str, district: DistrictData) -> str:
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


def _grid_of(submission: ReportSubmission, deps: GatewayDeps) -> str:
    try:
        return deps.district.place(submission.location, submission.grid_code).grid_code
    except PlacementRefused as refused:
        field = {"location": "lat/long", "": "location"}.get(refused.field, refused.field)
        raise Open311Error(400, f"{field}: {refused.reason}") from refused


# -- GET requests, request, token ------------------------------------------------------------


def _parse_w3c(text: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise Open311Error(
            400, f"{name} must be ISO 8601 with a time zone, e.g. 2010-01-01T00:00:00Z"
        ) from None
    if moment.tzinfo is None:
        raise Open311Error(400, f"{name} must include a time zone (Z or +HH:MM)")
    return moment.astimezone(UTC)


def _window(start_date: str | None, end_date: str | None) -> tuple[datetime, datetime]:
    start = _parse_w3c(start_date, "start_date") if start_date else None
    end = _parse_w3c(end_date, "end_date") if end_date else None
    if start is None:
        end = end or utc_now()
        start = end - MAX_WINDOW
    elif end is None:
        end = start + MAX_WINDOW
    if start > end:
        raise Open311Error(400, "start_date is after end_date")
    if end - start > MAX_WINDOW:
        raise Open311Error(400, "start_date to end_date may not span more than 90 days")
    return start, end


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


@router.get(
    "/requests.{format}",
    summary="GET Service Requests (public)",
    description=(
        "Filters: `service_request_id` (comma-separated; overrides the others), "
        "`service_code` and `status` (open, closed; comma-separated), `start_date`/`end_date` "
        "on requested_datetime (default: the last 90 days; at most 90 days apart). At most "
        "`limit` (default and maximum 1000) requests, newest first."
    ),
    response_class=Response,
    responses=_responses(list[ServiceRequest], 404),
)
def get_requests(
    format: FormatPath,
    deps: Annotated[GatewayDeps, Depends(get_deps)],
    jurisdiction_id: Jurisdiction = None,
    service_request_id: Annotated[str | None, Query(max_length=MAX_IDS * 130)] = None,
    service_code: Annotated[str | None, Query(max_length=4096)] = None,
    start_date: Annotated[str | None, Query(max_length=64)] = None,
    end_date: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[str | None, Query(max_length=64, description="open, closed")] = None,
    limit: Annotated[str | None, Query(max_length=8, description="1-1000")] = None,
) -> Response:
    _check_jurisdiction(deps, jurisdiction_id)
    district = deps.district
    reader = _reader(deps)
    count = MAX_REQUESTS
    if limit:
        if not limit.isdigit() or not 1 <= int(limit) <= MAX_REQUESTS:
            raise Open311Error(400, f"limit must be a whole number from 1 to {MAX_REQUESTS}")
        count = int(limit)
    ids = _split(service_request_id)
    if ids:
        if len(ids) > MAX_IDS:
            raise Open311Error(400, f"at most {MAX_IDS} service_request_id values at once")
        found = reader.find(ids=ids, limit=count)
    else:
        codes = _split(service_code)
        unknown = [code for code in codes if code not in district.taxonomy]
        if unknown:
            raise Open311Error(400, f"unknown service_code {', '.join(unknown)[:200]}")
        statuses = _split(status)
        if any(s not in ("open", "closed") for s in statuses):
            raise Open311Error(400, "status must be open, closed or both (comma-separated)")
        states: set[str] | None = None
        if statuses:
            states = set()
            if "open" in statuses:
                states |= OPEN_STATES
            if "closed" in statuses:
                states |= CLOSED_STATES
        start, end = _window(start_date, end_date)
        found = reader.find(
            categories=codes or None, states=states, start=start, end=end, limit=count
        )
    tz = _tz(deps)
    return render(format, "service_requests", [service_request(c, district, tz) for c in found])


@router.get(
    "/requests/{service_request_id}.{format}",
    summary="GET Service Request (public)",
    response_class=Response,
    responses=_responses(list[ServiceRequest], 404),
)
def get_request(
    service_request_id: Annotated[str, Path(max_length=128)],
    format: FormatPath,
    deps: Annotated[GatewayDeps, Depends(get_deps)],
    jurisdiction_id: Jurisdiction = None,
) -> Response:
    _check_jurisdiction(deps, jurisdiction_id)
    district = deps.district
    case = _reader(deps).get(service_request_id)
    if case is None:
        raise Open311Error(404, f"service_request_id {service_request_id!r} not found")
    return render(format, "service_requests", [service_request(case, district, _tz(deps))])


@router.get(
    "/tokens/{token}.{format}",
    summary="GET service_request_id from a token (public)",
    response_class=Response,
    responses=_responses(list[TokenAnswer], 404),
)
def get_token(
    token: Annotated[str, Path(max_length=128)],
    format: FormatPath,
    deps: Annotated[GatewayDeps, Depends(get_deps)],
    jurisdiction_id: Jurisdiction = None,
) -> Response:
    _check_jurisdiction(deps, jurisdiction_id)
    case_id = _reader(deps).case_of_report(token)
    if case_id is None:
        raise Open311Error(
            404,
            f"token {token!r} not found (a request just posted may still be in processing: "
            "retry in a few seconds)",
        )
    return render(format, "service_requests", [{"service_request_id": case_id, "token": token}])
