"""Placing a reported place on the district's grids — the one rule every door
(phone, Open311, systems over HTTP) and the intake stage apply.

A place is a point (WGS84, or GCJ-02 as Chinese phone map SDKs give it), a grid
code, or both. The answer is a :class:`Placement` (the grid and the point in
WGS84) or a :class:`PlacementRefused` that names the field at fault, which each
caller words its own way (an HTTP 422, a dead letter's reason).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from routing.geo import gcj02_to_wgs84
from routing.grids import GridRegistry
from schemas.reports import GeoPoint


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
            if code in grids:
                out.append(Placement(code, point))
            else:
                out.append(PlacementRefused("grid_code", f"{code} is not a grid of this district"))
        elif point is None:
            out.append(PlacementRefused("", "location or grid_code is required"))
        else:
            grid = located[(point.lat, point.lon)]
            if grid is None:
                out.append(PlacementRefused("location", "outside every grid of this district"))
            else:
                out.append(Placement(grid.code, point))
    return out
