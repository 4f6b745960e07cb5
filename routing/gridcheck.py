"""Checking a district's grid file before it is loaded (``gridhub grids import``):
every problem found, each with the feature it is in and the reason, rather than
the first one. Pure: a parsed GeoJSON document in, problems (or the registry) out.

A file is refused for

- a bad 15-digit code: not 15 digits, not in the file's district
  (``district_code``), or a ``street_code`` / ``community_code`` that is not the
  code's own prefix, or a code used twice;
- an invalid polygon (with shapely's explanation: a self-intersection, a ring
  that does not close...);
- two grids that overlap by more than ``overlap_tolerance`` of the smaller one's
  area (edges may touch; a sliver from digitising is tolerated);
- a gap inside a community: a hole of more than ``gap_tolerance_m2`` in the union
  of its grids (every household of a community belongs to one of its grids);
- an unknown street or community: one that is not among the district's areas
  (``areas.yaml``, or, without it, the streets and communities already loaded).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import shapely
from shapely import STRtree
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from routing import _loading as L
from routing.grids import Grid, GridRegistry, grid_from_feature

AREAS_FILE = "areas.yaml"

OVERLAP_TOLERANCE = 0.01  # of the smaller grid's area
GAP_TOLERANCE_M2 = 100.0
METRES_PER_DEGREE = 111_320.0
SNAP_DEGREES = 1e-7


@dataclass(frozen=True)
class Problem:
    feature: str  # "feature 3 (990101001001003)", or the community
    reason: str

    def __str__(self) -> str:
        return f"{self.feature}: {self.reason}"


@dataclass(frozen=True)
class KnownAreas:
    """The streets and communities of the district, by code."""

    streets: Mapping[str, str]
    communities: Mapping[str, str]


def load_areas(path: Path) -> KnownAreas | None:
    """The district's streets and communities from ``areas.yaml`` (None: no file)."""
    if not path.exists():
        return None
    data = L.read_yaml(path)
    streets = {
        L.text(e, "code", str(path)): L.text(e, "name", str(path))
        for e in L.entries(data, "streets", str(path))
    }
    communities = {
        L.text(e, "code", str(path)): L.text(e, "name", str(path))
        for e in L.entries(data, "communities", str(path))
    }
    return KnownAreas(streets, communities)


def areas_of(registry: GridRegistry) -> KnownAreas:
    """The streets and communities a loaded grid registry already has."""
    return KnownAreas(registry.streets(), registry.communities())


def square_metres(geometry: BaseGeometry) -> float:
    """Area of a lon/lat geometry in m² (equirectangular at its own latitude:
    close enough for grids a few hundred metres across)."""
    if geometry.is_empty:
        return 0.0
    lat = geometry.centroid.y
    return float(geometry.area) * METRES_PER_DEGREE**2 * math.cos(math.radians(lat))


def _label(n: int, feature: Any) -> str:
    props = feature.get("properties") if isinstance(feature, Mapping) else None
    code = props.get("code") if isinstance(props, Mapping) else None
    return f"feature {n} ({code})" if code else f"feature {n}"


def _geometry_problem(feature: Any) -> str | None:
    geometry = feature.get("geometry") if isinstance(feature, Mapping) else None
    if not isinstance(geometry, Mapping) or geometry.get("type") not in ("Polygon", "MultiPolygon"):
        return None  # the grid parser says what is wrong
    try:
        geom = shape(geometry)
    except (ValueError, TypeError, AttributeError, IndexError) as exc:
        return f"invalid polygon: {exc}"
    if not geom.is_valid:
        return f"invalid polygon: {explain_validity(geom)}"
    return None


def check(
    data: Any,
    known: KnownAreas | None = None,
    *,
    overlap_tolerance: float = OVERLAP_TOLERANCE,
    gap_tolerance_m2: float = GAP_TOLERANCE_M2,
) -> tuple[GridRegistry | None, list[Problem]]:
    """The registry of a good file, or None and every problem found."""
    if not isinstance(data, Mapping) or data.get("type") != "FeatureCollection":
        return None, [Problem("file", "not a GeoJSON FeatureCollection")]
    features = data.get("features")
    if not isinstance(features, list) or not features:
        return None, [Problem("file", "no features")]
    district = str(data.get("district_code") or "")
    problems: list[Problem] = []
    grids: list[tuple[str, Grid]] = []
    seen: dict[str, str] = {}
    for n, feature in enumerate(features, start=1):
        label = _label(n, feature)
        geometry_problem = _geometry_problem(feature)
        if geometry_problem:
            problems.append(Problem(label, geometry_problem))
            continue
        try:
            grid = grid_from_feature(feature, label)
        except ValueError as exc:
            problems.append(
                Problem(
                    label,
                    str(exc)
                    .removeprefix(f"{label}: ")
                    .removeprefix(f"{label} ({_code_of(feature)}): "),
                )
            )
            continue
        if district and not grid.code.startswith(district):
            problems.append(Problem(label, f"code {grid.code} is not in district {district}"))
        if grid.code in seen:
            problems.append(Problem(label, f"code {grid.code} is also {seen[grid.code]}"))
            continue
        seen[grid.code] = label
        if known is not None:
            if grid.street_code not in known.streets:
                problems.append(Problem(label, f"unknown street {grid.street_code}"))
            if grid.community_code not in known.communities:
                problems.append(Problem(label, f"unknown community {grid.community_code}"))
        grids.append((label, grid))
    problems += _overlaps(grids, overlap_tolerance)
    problems += _gaps(grids, gap_tolerance_m2)
    if problems:
        return None, problems
    meta = {
        k: data[k]
        for k in ("name", "description", "synthetic", "district_code", "district_name")
        if k in data
    }
    return GridRegistry([g for _, g in grids], meta), []


def _code_of(feature: Any) -> str:
    props = feature.get("properties") if isinstance(feature, Mapping) else None
    return str(props.get("code")) if isinstance(props, Mapping) else ""


def _overlaps(grids: Sequence[tuple[str, Grid]], tolerance: float) -> list[Problem]:
    polygons = [g.polygon for _, g in grids]
    if not polygons:
        return []
    tree = STRtree(polygons)
    left, right = tree.query(polygons, predicate="intersects")
    problems = []
    for i, j in zip(left.tolist(), right.tolist(), strict=True):
        if i >= j:
            continue
        shared = shapely.intersection(polygons[i], polygons[j])
        smaller = min(square_metres(polygons[i]), square_metres(polygons[j]))
        area = square_metres(shared)
        if smaller and area / smaller > tolerance:
            a, b = grids[i][0], grids[j][0]
            problems.append(
                Problem(
                    a,
                    f"overlaps {b} by {area:.0f} m² ({area / smaller:.1%} of the smaller grid; "
                    f"at most {tolerance:.1%} allowed)",
                )
            )
    return problems


def _gaps(grids: Sequence[tuple[str, Grid]], tolerance_m2: float) -> list[Problem]:
    by_community: defaultdict[str, list[Polygon | MultiPolygon]] = defaultdict(list)
    names: dict[str, str] = {}
    for _, grid in grids:
        by_community[grid.community_code].append(grid.polygon)
        names[grid.community_code] = grid.community_name
    problems = []
    for code, polygons in sorted(by_community.items()):
        # Snapped to ~1 cm so hairline cracks between neighbours (float noise in
        # shared edges) do not split the community or hide a real hole.
        union = shapely.union_all(polygons, grid_size=SNAP_DEGREES)
        parts = list(union.geoms) if isinstance(union, MultiPolygon) else [union]
        for part in parts:
            if not isinstance(part, Polygon):
                continue
            for ring in part.interiors:
                hole = Polygon(ring)
                area = square_metres(hole)
                if area > tolerance_m2:
                    where = hole.representative_point()
                    problems.append(
                        Problem(
                            f"community {code} ({names[code]})",
                            f"gap of {area:.0f} m² inside the community, no grid covers it "
                            f"(near lon {where.x:.5f}, lat {where.y:.5f})",
                        )
                    )
    return problems
