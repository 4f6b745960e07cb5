"""Reference data for clients: the category taxonomy, the grid polygons and the
departments cases are dispatched to (codes with their names, for pickers and scorecards)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from gateway.auth import SignedIn
from gateway.deps import Deps
from gateway.routes.common import AUTH_ERRORS

router = APIRouter(prefix="/api/v1", tags=["reference"])


class DepartmentOut(BaseModel):
    code: str
    name_zh: str
    name_en: str


class GeoJSONResponse(JSONResponse):
    media_type = "application/geo+json"


@router.get("/categories", summary="The category taxonomy", responses={**AUTH_ERRORS})
def categories(deps: Deps, token: SignedIn) -> Any:
    return deps.district.taxonomy.as_json()


@router.get(
    "/grids",
    summary="Grid polygons (GeoJSON FeatureCollection)",
    response_class=GeoJSONResponse,
    responses={
        **AUTH_ERRORS,
        200: {"content": {"application/geo+json": {"schema": {"type": "object"}}}},
    },
)
def grids(deps: Deps, token: SignedIn) -> dict[str, Any]:
    return deps.district.grids.geojson()


@router.get(
    "/departments",
    response_model=list[DepartmentOut],
    summary="The departments cases are dispatched to: code, Chinese and English names",
    responses={**AUTH_ERRORS},
)
def departments(deps: Deps, token: SignedIn) -> list[DepartmentOut]:
    return [
        DepartmentOut(code=code, name_zh=d.name_zh, name_en=d.name_en)
        for code, d in deps.district.departments.items()
    ]
