"""Health, readiness, this hub and its district data (``/api/v1/meta``) and the
JSON Schema of every contract (all public)."""

from __future__ import annotations

from functools import cache
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel

from gateway.deps import Deps
from gateway.errors import ErrorOut
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


@router.get("/api/v1/meta", summary="This hub: its version and the district data in force")
async def meta(request: Request, deps: Deps) -> dict[str, Any]:
    grids = deps.district.grids.geojson()
    return {
        "version": request.app.version,
        "district": {
            key: grids[key]
            for key in ("name", "district_code", "district_name", "synthetic")
            if key in grids
        }
        | {
            "grids": len(grids["features"]),
            "streets": len(deps.district.grids.streets()),
        },
        # per kind (grids, routing, taxonomy): the version loaded with
        # `gridhub grids import` / `gridhub rules import` in force here; 0: the files
        "data": deps.district_sync.versions() if deps.district_sync is not None else {},
    }


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
