"""Health, readiness and the JSON Schema of every contract (all public), and
``GET /api/v1/meta`` for signed-in clients: what the hub runs on — its version,
the district data in force, the SLA calendar's official and provisional years,
and the duty office's warning when next year's holiday schedule is missing."""

from __future__ import annotations

from functools import cache
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from gateway.auth import SignedIn
from gateway.deps import Deps
from gateway.errors import ErrorOut
from gateway.routes.common import AUTH_ERRORS
from routing.sla import LOCAL_TZ, missing_schedule_warning
from schemas.envelope import now_utc
from schemas.export import CONTRACTS, json_schema

router = APIRouter(tags=["meta"])


class Health(BaseModel):
    status: str


class SchemaIndex(BaseModel):
    schemas: dict[str, str]


@router.get("/healthz", response_model=Health, summary="Liveness: the process answers")
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Health,
    summary="Readiness: the gateway can take reports",
    responses={503: {"model": ErrorOut, "description": "not ready"}},
)
async def readyz(request: Request, deps: Deps) -> Health:
    started = bool(getattr(request.app.state, "started", False))
    if not started or (deps.ready_check is not None and not deps.ready_check()):
        raise HTTPException(status_code=503, detail="not ready")
    return Health(status="ready")


@router.get("/schemas/", response_model=SchemaIndex, summary="Index of the contract schemas")
async def schema_index() -> SchemaIndex:
    return SchemaIndex(schemas={name: f"/schemas/{name}.json" for name in CONTRACTS})


@router.get(
    "/schemas/{name}.json",
    summary="The JSON Schema of one contract",
    responses={404: {"model": ErrorOut, "description": "no such contract"}},
)
async def schema(name: str) -> dict[str, Any]:
    if name not in CONTRACTS:
        raise HTTPException(status_code=404, detail=f"no contract named {name!r}")
    return _schema(name)


@cache
def _schema(name: str) -> dict[str, Any]:
    return json_schema(name)


class CalendarMeta(BaseModel):
    today: str = Field(description="the district's local date")
    years: list[dict[str, Any]] = Field(
        description="this year and next: {year, status official|provisional, source, reason}"
    )
    provisional_years: list[int]
    warning: str | None = Field(
        description="for the duty office: a schedule that is missing (from 1 November, next year's)"
    )


class Meta(BaseModel):
    version: str
    district: dict[str, Any] = Field(
        description="name, codes, whether synthetic, and how many grids and streets"
    )
    data: dict[str, Any] = Field(
        description="per kind (grids, routing, taxonomy): the version loaded with "
        "`gridhub grids import` / `gridhub rules import` in force here; 0: the files"
    )
    calendar: CalendarMeta
    sla_scale: float = Field(description="1 unless the SLA is shortened for a drill or a test")


@router.get(
    "/api/v1/meta",
    response_model=Meta,
    summary="What the hub runs on: version, district data in force, the SLA calendar",
    responses={**AUTH_ERRORS},
)
async def meta(request: Request, deps: Deps, token: SignedIn) -> Meta:
    calendar = deps.district.calendar
    today = now_utc().astimezone(LOCAL_TZ).date()
    grids = deps.district.grids.geojson()
    return Meta(
        version=request.app.version,
        district={
            key: grids[key]
            for key in ("name", "district_code", "district_name", "synthetic")
            if key in grids
        }
        | {"grids": len(grids["features"]), "streets": len(deps.district.grids.streets())},
        data=deps.district_sync.versions() if deps.district_sync is not None else {},
        calendar=CalendarMeta(
            today=today.isoformat(),
            years=[calendar.schedule(year).as_dict() for year in (today.year, today.year + 1)],
            provisional_years=list(calendar.provisional_years(today)),
            warning=missing_schedule_warning(calendar, today),
        ),
        sla_scale=deps.district.sla_scale,
    )
