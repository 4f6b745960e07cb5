"""Open311 GeoReport v2 under ``/open311/v2/``: discovery, services, service
definitions, requests, tokens — one route per resource, its format (``json`` or
``xml``) a path parameter, every answer rendered by :func:`~gateway.open311.render.render`.

Reads are public (DESIGN.md §8) and show only what is public by policy
(categories flagged public in the taxonomy, no free text, places snapped to
about 100 m: :mod:`schemas.publicdata`), limited
per client address. ``POST requests`` needs an ``api_key`` in the form body (as
GeoReport v2 clients send it; one in the URL is refused, so it never reaches an
access log): a GridHub token of role ``open311`` — a key that can file requests
and nothing else — or ``system``/``grid_worker`` (an admin's works too). A
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

from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Header, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute

from gateway import intake
from gateway.auth import PUBLIC_READ, signed_in
from gateway.cloudevents_http import media_type
from gateway.deps import Deps, GatewayDeps
from gateway.open311 import docs, requests, services
from gateway.open311.render import Format, Open311Error, errors, render
from gateway.ports import ServiceRequestReader, TokenInfo
from routing.placement import Placement, PlacementRefused
from schemas.envelope import now_utc
from schemas.policy import ADMIN, GRID_WORKER, OPEN311, SYSTEM, grid_in_scope
from schemas.reports import ReportSubmission

PREFIX = "/open311/v2"
POSTING_ROLES = frozenset({OPEN311, SYSTEM, GRID_WORKER, ADMIN})


def _format_of(request: Request) -> Format:
    return Format.XML if request.path_params.get("format") == Format.XML else Format.JSON


def _describe(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("query", "path", "header", "body")]
        parts.append(f"{'.'.join(loc) or 'request'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


class Open311Route(APIRoute):
    """Answers every refusal of an Open311 route as GeoReport v2 errors, in the
    format the path asked for."""

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

FormatPath = Annotated[Format, Path(description="json or xml")]
Jurisdiction = Annotated[
    str | None,
    Query(max_length=256, description="optional: this endpoint serves one jurisdiction"),
]


def _check_jurisdiction(deps: GatewayDeps, jurisdiction_id: str | None) -> None:
    ours = deps.open311.jurisdiction_id
    if ours and jurisdiction_id and jurisdiction_id != ours:
        raise Open311Error(404, f"jurisdiction_id {jurisdiction_id!r} not found (this is {ours})")


def _reader(deps: GatewayDeps) -> ServiceRequestReader:
    reader = deps.service_requests
    if reader is None:
        raise Open311Error(400, "Open311 requests are not configured on this gateway", code=503)
    return reader


def _tz(deps: GatewayDeps) -> ZoneInfo:
    return ZoneInfo(deps.open311.tz)


def _public_categories(deps: GatewayDeps) -> frozenset[str]:
    """The categories whose cases the public may see (flagged in the taxonomy)."""
    return frozenset(c.code for c in deps.district.taxonomy if c.public)


# -- discovery and services ----------------------------------------------------------------


@router.get(
    "/discovery.{format}",
    dependencies=PUBLIC_READ,
    summary="Service discovery",
    response_class=Response,
    responses=docs.responses(docs.Discovery),
)
def get_discovery(format: FormatPath, deps: Deps) -> Response:
    # From settings, never from the request's Host header (a shared cache would
    # keep a poisoned answer for everyone).
    url = deps.open311.public_url.rstrip("/") or PREFIX
    return render(format, "discovery", services.discovery(deps.open311, url))


@router.get(
    "/services.{format}",
    dependencies=PUBLIC_READ,
    summary="GET Service List: our categories",
    response_class=Response,
    responses=docs.responses(list[docs.Service], 404),
)
def get_services(format: FormatPath, deps: Deps, jurisdiction_id: Jurisdiction = None) -> Response:
    _check_jurisdiction(deps, jurisdiction_id)
    return render(format, "services", [services.service(c) for c in deps.district.taxonomy])


@router.get(
    "/services/{service_code}.{format}",
    dependencies=PUBLIC_READ,
    summary="GET Service Definition: the attributes of a service",
    response_class=Response,
    responses=docs.responses(docs.ServiceDefinition, 404),
)
def get_service_definition(
    service_code: Annotated[str, Path(max_length=64)],
    format: FormatPath,
    deps: Deps,
    jurisdiction_id: Jurisdiction = None,
) -> Response:
    _check_jurisdiction(deps, jurisdiction_id)
    category = deps.district.taxonomy.get(service_code)
    if category is None:
        raise Open311Error(404, f"service_code {service_code!r} not found")
    return render(format, "service_definition", services.service_definition(category))


# -- POST requests ---------------------------------------------------------------------------


@router.post(
    "/requests.{format}",
    summary="POST Service Request (form-encoded, api_key required)",
    response_class=Response,
    openapi_extra={"requestBody": docs.POST_BODY},
    responses=docs.responses(list[docs.RequestCreated], 403, 404),
)
async def post_request(
    request: Request,
    format: FormatPath,
    deps: Deps,
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=128,
            description="same key (per api_key) = same token, so retries are harmless",
        ),
    ] = None,
) -> Response:
    if "api_key" in request.query_params:
        raise Open311Error(
            400, "send api_key in the form body, never in the URL (URLs end up in logs)"
        )
    form = requests.parse_form(
        media_type(request.headers.get("content-type")), await request.body()
    )
    token = await _api_token(deps, request, form.get("api_key"))
    _check_jurisdiction(deps, form.get("jurisdiction_id"))
    submission = requests.submission(form, deps.district, now_utc())
    placement = _place(submission, deps)
    if token.role == GRID_WORKER and not grid_in_scope(token.scope, placement.grid_code):
        raise Open311Error(403, f"grid {placement.grid_code} is outside this api_key's scope")
    report_id = intake.report_id(deps, token, idempotency_key, door="open311")
    source = token.scope if token.role == SYSTEM and token.scope else deps.open311_source
    try:
        await intake.publish_report(deps, token, submission, placement, report_id, source=source)
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


async def _api_token(deps: GatewayDeps, request: Request, api_key: str | None) -> TokenInfo:
    try:
        record = await signed_in(deps, request, api_key)
    except HTTPException as exc:
        status = 403 if exc.status_code == 401 else exc.status_code
        detail = "api_key was not provided" if not api_key else "invalid api_key"
        raise Open311Error(
            status, detail if status == 403 else str(exc.detail), headers=exc.headers
        ) from exc
    if record.role not in POSTING_ROLES:
        raise Open311Error(
            403, f"an api_key of role {record.role!r} may not create service requests"
        )
    if record.role == SYSTEM and not record.scope:
        raise Open311Error(403, "this system api_key has no source scope")
    return record


def _place(submission: ReportSubmission, deps: GatewayDeps) -> Placement:
    try:
        return deps.district.place(submission.location, submission.grid_code)
    except PlacementRefused as refused:
        field = {"location": "lat/long", "": "location"}.get(refused.field, refused.field)
        raise Open311Error(400, f"{field}: {refused.reason}") from refused


# -- GET requests, request, token ------------------------------------------------------------


@router.get(
    "/requests.{format}",
    dependencies=PUBLIC_READ,
    summary="GET Service Requests (public)",
    description=(
        "Filters: `service_request_id` (comma-separated; overrides the others), "
        "`service_code` and `status` (open, closed; comma-separated), `start_date`/`end_date` "
        "on requested_datetime (default: the last 90 days; at most 90 days apart). At most "
        "`limit` (default 50, at most 100) requests, newest first. Only categories flagged "
        "public; the description only of requests filed through Open311 (phone and ID "
        "numbers masked); locations to about 100 m; limited per client address."
    ),
    response_class=Response,
    responses=docs.responses(list[docs.ServiceRequest], 404),
)
def get_requests(
    format: FormatPath,
    deps: Deps,
    jurisdiction_id: Jurisdiction = None,
    service_request_id: Annotated[str | None, Query(max_length=requests.MAX_IDS * 130)] = None,
    service_code: Annotated[str | None, Query(max_length=4096)] = None,
    start_date: Annotated[str | None, Query(max_length=64)] = None,
    end_date: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[str | None, Query(max_length=64, description="open, closed")] = None,
    limit: Annotated[str | None, Query(max_length=8, description="1-100")] = None,
) -> Response:
    _check_jurisdiction(deps, jurisdiction_id)
    reader = _reader(deps)
    public = _public_categories(deps)
    query = requests.request_query(
        deps.district,
        now_utc(),
        service_request_id=service_request_id,
        service_code=service_code,
        status=status,
        start_date=start_date,
        end_date=end_date,
        limit=limit,
    )
    found = reader.find(
        ids=query.ids or None,
        categories=query.categories or None,
        states=query.states,
        start=query.start,
        end=query.end,
        limit=query.limit,
        public=public,
    )
    tz = _tz(deps)
    return render(
        format,
        "service_requests",
        [requests.service_request(case, deps.district, tz) for case in found],
    )


@router.get(
    "/requests/{service_request_id}.{format}",
    dependencies=PUBLIC_READ,
    summary="GET Service Request (public)",
    response_class=Response,
    responses=docs.responses(list[docs.ServiceRequest], 404),
)
def get_request(
    service_request_id: Annotated[str, Path(max_length=128)],
    format: FormatPath,
    deps: Deps,
    jurisdiction_id: Jurisdiction = None,
) -> Response:
    _check_jurisdiction(deps, jurisdiction_id)
    case = _reader(deps).get(service_request_id, public=_public_categories(deps))
    if case is None:
        raise Open311Error(404, f"service_request_id {service_request_id!r} not found")
    request = requests.service_request(case, deps.district, _tz(deps))
    return render(format, "service_requests", [request])


@router.get(
    "/tokens/{token}.{format}",
    dependencies=PUBLIC_READ,
    summary="GET service_request_id from a token (public)",
    response_class=Response,
    responses=docs.responses(list[docs.TokenAnswer], 404),
)
def get_token(
    token: Annotated[str, Path(max_length=128)],
    format: FormatPath,
    deps: Deps,
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
