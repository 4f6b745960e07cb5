"""Placing a reported place on the district's grids — the one rule every door
(phone, Open311, systems over HTTP) and the intake stage apply.

A place is a point (WGS84, or GCJ-02 as Chinese phone map SDKs give it), a grid
code, or both; when both are given the point must lie in the grid or within
:data:`GRID_TOLERANCE_M` of it (a GPS fix near the edge), or the place is
refused — a report cannot claim one grid and stand in another. The answer is a
:class:`Placement` (the grid and the point in WGS84) or a
:class:`PlacementRefused` that names the field at fault, which each caller words
its own way (an HTTP 422, a dead letter's reason).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from shapely import affinity
from shapely.geometry import Point

from routing.geo import METRES_PER_DEGREE_LAT, gcj02_to_wgs84
from routing.grids import GridRegistry
from schemas.reports import GeoPoint

GRID_TOLERANCE_M = 50.0


def metres_outside(grids: GridRegistry, grid_code: str, point: GeoPoint) -> float:
    """How far (metres, roughly) ``point`` lies outside grid ``grid_code`` (0 inside)."""
    grid = grids.get(grid_code)
    if grid is None:
        return math.inf
    here = Point(point.lon, point.lat)
    if grid.polygon.covers(here):
        return 0.0
    # Degrees of longitude shrink with latitude: scale them about the point so
    # that a degree is the same length both ways, then measure.
    scale = math.cos(math.radians(point.lat))
    local = affinity.scale(grid.polygon, xfact=scale, yfact=1.0, origin=(point.lon, point.lat))
    return float(local.distance(here)) * METRES_PER_DEGREE_LAT


@dataclass(frozen=True)
class Placement:
    grid_code: str
    location: GeoPoint | None  # WGS84


class PlacementRefused(ValueError):
    """``field`` is ``grid_code``, ``location`` or ``""`` (neither was given)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field or 'place'}: {reason}")
        self.field = field
        self.reason = reason


def to_wgs84(point: GeoPoint | None) -> GeoPoint | None:
    """A location in WGS84 (a ``gcj02`` point converted)."""
    if point is None or point.crs == "wgs84":
        return point
    lat, lon = gcj02_to_wgs84(point.lat, point.lon)
    return GeoPoint(lat=lat, lon=lon)


def place(grids: GridRegistry, location: GeoPoint | None, grid_code: str | None) -> Placement:
    """The grid of a place: the given code if the district has it, else the grid
    under the point. Raises :class:`PlacementRefused`."""
    [placed] = place_many(grids, [(location, grid_code)])
    if isinstance(placed, PlacementRefused):
        raise placed
    return placed


def place_many(
    grids: GridRegistry, places: Sequence[tuple[GeoPoint | None, str | None]]
) -> list[Placement | PlacementRefused]:
    """:func:`place` for each ``(location, grid_code)``, in order; the points that
    need point-in-polygon are located in one vectorised query (one query per point
    was most of the cost of placing a batch)."""
    points = [to_wgs84(location) for location, _ in places]
    pending = list(
        dict.fromkeys(
            (point.lat, point.lon)
            for point, (_, code) in zip(points, places, strict=True)
            if code is None and point is not None
        )
    )
    located = dict(zip(pending, grids.locate_many(pending), strict=True))
    out: list[Placement | PlacementRefused] = []
    for point, (_, code) in zip(points, places, strict=True):
        if code is not None:
            if code not in grids:
                out.append(PlacementRefused("grid_code", f"{code} is not a grid of this district"))
                continue
            away = metres_outside(grids, code, point) if point is not None else 0.0
            if away > GRID_TOLERANCE_M:
                out.append(
                    PlacementRefused(
                        "location",
                        f"{away:.0f} m outside grid {code}; a location must lie in the grid "
                        f"it names (or within {GRID_TOLERANCE_M:.0f} m)",
                    )
                )
            else:
                out.append(Placement(code, point))
        elif point is None:
            out.append(PlacementRefused("", "location or grid_code is required"))
        else:
            grid = located[(point.lat, point.lon)]
            if grid is None:
                out.append(PlacementRefused("location", "outside every grid of this district"))
            else:
                out.append(Placement(grid.code, point))
    return out
