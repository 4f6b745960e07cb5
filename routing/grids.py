"""The grid registry: unit-grid polygons (社区网格) and point-in-polygon lookup.

Grid codes follow the 15-digit form of DESIGN.md §10: district 6 + street 3 +
community 3 + grid 3. Coordinates are WGS84, GeoJSON order (lon, lat).

One point (a phone's report, on the gateway's hot path) is located through a coarse
cell index of the grids' bounding boxes and a prepared point-in-polygon test, a few
microseconds; many points at once (a batch) through one vectorised STRtree query.
Both give the same answer: the grid that covers the point, the lowest code on a
shared edge or corner.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import shapely
from shapely import STRtree
from shapely.geometry import MultiPolygon, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry

from routing.geo import METRES_PER_DEGREE_LAT
from schemas.reports import community_of, street_of

_GRID_CODE = re.compile(r"^\d{15}$")
_PROPERTIES = ("code", "name", "street_code", "street_name", "community_code", "community_name")
_COLLECTION_META = ("name", "description", "synthetic", "district_code", "district_name")
_CELLS_PER_SIDE = 64  # of the cell index over the district's bounds
_ONE_BY_ONE = 16  # points up to this many are located one by one, more in one query


@dataclass(frozen=True)
class Grid:
    code: str
    name: str
    street_code: str
    street_name: str
    community_code: str
    community_name: str
    polygon: Polygon | MultiPolygon
    synthetic: bool = False

    def properties(self) -> dict[str, Any]:
        props: dict[str, Any] = {key: getattr(self, key) for key in _PROPERTIES}
        if self.synthetic:
            props["synthetic"] = True
        return props

    def feature(self) -> dict[str, Any]:
        geometry = json.loads(json.dumps(mapping(self.polygon)))  # tuples -> lists
        return {
            "type": "Feature",
            "id": self.code,
            "properties": self.properties(),
            "geometry": geometry,
        }


def grid_from_feature(feature: Any, where: str) -> Grid:
    """One grid from a GeoJSON feature; ``ValueError`` says what is wrong, after ``where``."""
    return _grid(feature, where)


def _grid(feature: Any, where: str) -> Grid:
    if not isinstance(feature, Mapping) or feature.get("type") != "Feature":
        raise ValueError(f"{where}: not a GeoJSON Feature")
    props = feature.get("properties")
    if not isinstance(props, Mapping):
        raise ValueError(f"{where}: no properties")
    values = {}
    for key in _PROPERTIES:
        value = props.get(key)
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{where}: property `{key}` must be a non-empty string")
        values[key] = value.strip()
    where = f"{where} ({values['code']})"
    _check_codes(values, where)
    return Grid(
        **values,
        polygon=_polygon(feature.get("geometry"), where),
        synthetic=props.get("synthetic") is True,
    )


def _check_codes(values: Mapping[str, str], where: str) -> None:
    code = values["code"]
    if not _GRID_CODE.match(code):
        raise ValueError(f"{where}: grid code must be 15 digits")
    if values["community_code"] != community_of(code):
        raise ValueError(f"{where}: community_code must be {community_of(code)} (code[:12])")
    if values["street_code"] != street_of(code):
        raise ValueError(f"{where}: street_code must be {street_of(code)} (code[:9])")


def _polygon(geometry: Any, where: str) -> Polygon | MultiPolygon:
    if not isinstance(geometry, Mapping) or geometry.get("type") not in (
        "Polygon",
        "MultiPolygon",
    ):
        raise ValueError(f"{where}: geometry must be a Polygon or MultiPolygon")
    try:
        geom = shape(geometry)
    except (ValueError, TypeError, AttributeError, IndexError) as exc:
        raise ValueError(f"{where}: bad geometry ({exc})") from None
    if not isinstance(geom, Polygon | MultiPolygon) or geom.is_empty or not geom.is_valid:
        raise ValueError(f"{where}: geometry is empty or invalid (self-intersecting?)")
    return geom


class _CellIndex:
    """The grids whose bounding box meets each cell of a uniform raster over the
    district, in code order; a point's candidates are its cell's, tested with
    prepared polygons (covered-by a polygon = intersects it, for a point)."""

    def __init__(self, polygons: Sequence[Polygon | MultiPolygon]) -> None:
        self._polygons = list(polygons)
        shapely.prepare(self._polygons)
        bounds = [polygon.bounds for polygon in self._polygons]
        self._x0 = min(b[0] for b in bounds)
        self._y0 = min(b[1] for b in bounds)
        width = max(b[2] for b in bounds) - self._x0
        height = max(b[3] for b in bounds) - self._y0
        self._dx = (width or 1.0) / _CELLS_PER_SIDE
        self._dy = (height or 1.0) / _CELLS_PER_SIDE
        cells: dict[tuple[int, int], list[int]] = {}
        for index, (x0, y0, x1, y1) in enumerate(bounds):
            for i in range(self._column(x0), self._column(x1) + 1):
                for j in range(self._row(y0), self._row(y1) + 1):
                    cells.setdefault((i, j), []).append(index)
        self._cells = {cell: tuple(members) for cell, members in cells.items()}

    def _column(self, x: float) -> int:
        return min(_CELLS_PER_SIDE - 1, max(0, int((x - self._x0) / self._dx)))

    def _row(self, y: float) -> int:
        return min(_CELLS_PER_SIDE - 1, max(0, int((y - self._y0) / self._dy)))

    def locate(self, x: float, y: float) -> int | None:
        """The lowest index of a polygon covering ``(x, y)``."""
        for index in self._cells.get((self._column(x), self._row(y)), ()):
            if shapely.intersects_xy(self._polygons[index], x, y):
                return index
        return None


@dataclass(frozen=True)
class _Band:
    """The part of a community within reach of a neighbouring ``community``."""

    community: str
    minx: float
    miny: float
    maxx: float
    maxy: float
    geometry: BaseGeometry


class GridRegistry:
    """All grids, ordered by code, with an STRtree for point and area lookups."""

    def __init__(self, grids: list[Grid], meta: Mapping[str, Any] | None = None) -> None:
        ordered = sorted(grids, key=lambda grid: grid.code)
        self._by_code: dict[str, Grid] = {}
        for grid in ordered:
            if grid.code in self._by_code:
                raise ValueError(f"duplicate grid code {grid.code!r}")
            self._by_code[grid.code] = grid
        self._grids = tuple(ordered)
        self._tree = STRtree([grid.polygon for grid in ordered])
        self._cells = _CellIndex([grid.polygon for grid in ordered])
        self._meta = dict(meta or {})
        self._bands: dict[tuple[str, float], tuple[_Band, ...]] = {}

    @classmethod
    def load(cls, path: Path) -> GridRegistry:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: cannot read GeoJSON ({exc})") from exc
        if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
            raise ValueError(f"{path}: not a GeoJSON FeatureCollection")
        features = data.get("features")
        if not isinstance(features, list) or not features:
            raise ValueError(f"{path}: no features")
        grids = [_grid(feature, f"{path}: feature {n}") for n, feature in enumerate(features, 1)]
        meta = {key: data[key] for key in _COLLECTION_META if key in data}
        try:
            return cls(grids, meta)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None

    def locate(self, lat: float, lon: float) -> Grid | None:
        """The grid covering a WGS84 point; on a shared edge or corner, the lowest code."""
        if not (math.isfinite(lat) and math.isfinite(lon)):
            return None
        index = self._cells.locate(lon, lat)
        return None if index is None else self._grids[index]

    def locate_many(self, points: Sequence[tuple[float, float]]) -> list[Grid | None]:
        """:meth:`locate` for many ``(lat, lon)`` points (a batch: one vectorised query)."""
        if len(points) <= _ONE_BY_ONE:
            return [self.locate(lat, lon) for lat, lon in points]
        lats, lons = zip(*points, strict=True)
        geoms = shapely.points(lons, lats)
        found: list[int | None] = [None] * len(points)
        point_index, grid_index = self._tree.query(geoms, predicate="covered_by")
        for p, g in zip(point_index.tolist(), grid_index.tolist(), strict=True):
            current = found[p]
            found[p] = g if current is None else min(current, g)
        return [None if g is None else self._grids[g] for g in found]

    def get(self, code: str) -> Grid | None:
        return self._by_code.get(code)

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def __iter__(self) -> Iterator[Grid]:
        return iter(self._grids)

    def __len__(self) -> int:
        return len(self._grids)

    def codes(self) -> tuple[str, ...]:
        return tuple(self._by_code)

    def streets(self) -> dict[str, str]:
        """Street code to street name."""
        return {grid.street_code: grid.street_name for grid in self._grids}

    def communities(self) -> dict[str, str]:
        """Community code to community name."""
        return {grid.community_code: grid.community_name for grid in self._grids}

    def communities_near(
        self, community: str, lat: float, lon: float, radius_m: float
    ) -> list[str]:
        """The other communities with ground within about ``radius_m`` of a point of
        ``community`` (a superset: the radius is taken at its widest in degrees).

        Asked for every report, so it is cheap: per (community, radius) the bands
        of the community within reach of each neighbour are computed once; a point
        is tested against a band's bounding box first, its geometry only inside."""
        bands = self._bands.get((community, radius_m))
        if bands is None:
            bands = self._bands[(community, radius_m)] = self._border_bands(community, radius_m)
        return [
            band.community
            for band in bands
            if band.minx <= lon <= band.maxx
            and band.miny <= lat <= band.maxy
            and shapely.intersects_xy(band.geometry, lon, lat)
        ]

    def _border_bands(self, community: str, radius_m: float) -> tuple[_Band, ...]:
        own = shapely.union_all([g.polygon for g in self._grids if g.community_code == community])
        if own.is_empty:
            return ()
        dlat = radius_m / METRES_PER_DEGREE_LAT
        reach = max(dlat, dlat / max(math.cos(math.radians(own.centroid.y)), 1e-6))
        others: dict[str, list[BaseGeometry]] = {}
        for grid in self._grids:
            if grid.community_code != community:
                others.setdefault(grid.community_code, []).append(grid.polygon)
        bands = []
        for code in sorted(others):
            band = shapely.union_all(others[code]).buffer(reach).intersection(own)
            if not band.is_empty:
                shapely.prepare(band)
                minx, miny, maxx, maxy = band.bounds
                bands.append(_Band(code, minx, miny, maxx, maxy, band))
        return tuple(bands)

    def named(self, text: str) -> list[Grid]:
        """Grids a place name points at: those whose grid, community or street name
        contains ``text`` or is contained in it (an address naming a community), by code."""
        needle = text.strip()
        if not needle:
            return []
        return [
            grid
            for grid in self._grids
            if any(
                name and (needle in name or name in needle)
                for name in (grid.name, grid.community_name, grid.street_name)
            )
        ]

    def grids_touching(self, geometry: BaseGeometry) -> list[Grid]:
        """Grids that share ground with ``geometry`` (WGS84, lon/lat), ordered by code.

        For an area (a CAP polygon or circle) a grid that only meets it along its
        boundary is left out; a point or line counts wherever it touches a grid."""
        hits = sorted(int(i) for i in self._tree.query(geometry, predicate="intersects"))
        areal = geometry.area > 0
        return [
            self._grids[i] for i in hits if not (areal and self._grids[i].polygon.touches(geometry))
        ]

    def geojson(self) -> dict[str, Any]:
        """The FeatureCollection served at ``GET /api/v1/grids`` (a fresh copy)."""
        collection: dict[str, Any] = {"type": "FeatureCollection"}
        collection.update(json.loads(json.dumps(self._meta)))
        collection["features"] = [grid.feature() for grid in self._grids]
        return collection
