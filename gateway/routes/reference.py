"""Reference data for clients: the category taxonomy and the grid polygons."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from gateway.auth import require_roles
from gateway.deps import GatewayDeps, get_deps
from gateway.ports import TokenInfo
from gateway.routes.common import AUTH_ERRORS

router = APIRouter(prefix="/api/v1", tags=["reference"])

SignedIn = Annotated[TokenInfo, Depends(require_roles())]


class GeoJSONResponse(JSONResponse):
    media_type = "application/geo+json"


@router.get("/categories", summary="The category taxonomy", responses={**AUTH_ERRORS})
def categories(deps: Annotated[GatewayDeps, Depends(get_deps)], token: SignedIn) -> Any:
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
def grids(deps: Annotated[GatewayDeps, Depends(get_deps)], token: SignedIn) -> dict[str, Any]:
    return deps.district.grids.geojson()
