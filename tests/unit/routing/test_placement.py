"""Placing a place on the grids (``routing.placement``): the rule every door and
the intake stage share."""

from __future__ import annotations

import pytest

from routing.district import District
from routing.geo import wgs84_to_gcj02
from routing.placement import Placement, PlacementRefused, place, place_many
from schemas.reports import GeoPoint

INSIDE = GeoPoint(lat=39.9035, lon=116.3835)  # grid 990101001001001
OUTSIDE = GeoPoint(lat=31.23, lon=121.47)


def test_a_point_is_placed_on_the_grid_under_it(district: District) -> None:
    placed = place(district.grids, INSIDE, None)
    assert placed == Placement("990101001001001", INSIDE)


def test_a_gcj02_point_is_converted_before_it_is_placed(district: District) -> None:
    lat, lon = wgs84_to_gcj02(INSIDE.lat, INSIDE.lon)
    placed = place(district.grids, GeoPoint(lat=lat, lon=lon, crs="gcj02"), None)
    assert placed.grid_code == "990101001001001"
    assert placed.location is not None and placed.location.crs == "wgs84"
    assert placed.location.lat == pytest.approx(INSIDE.lat, abs=1e-5)
    assert placed.location.lon == pytest.approx(INSIDE.lon, abs=1e-5)


def test_a_known_grid_code_places_the_report(district: District) -> None:
    assert place(district.grids, None, "990101002001003").grid_code == "990101002001003"


@pytest.mark.parametrize(
    ("location", "grid_code", "field"),
    [
        (OUTSIDE, None, "location"),
        (None, "990101999999999", "grid_code"),
        (None, None, ""),
    ],
)
def test_refusals_name_the_field(
    district: District, location: GeoPoint | None, grid_code: str | None, field: str
) -> None:
    with pytest.raises(PlacementRefused) as caught:
        place(district.grids, location, grid_code)
    assert caught.value.field == field


def test_place_many_answers_each_place_in_order(district: District) -> None:
    out = place_many(district.grids, [(INSIDE, None), (OUTSIDE, None), (None, "990101001001002")])
    assert [getattr(p, "grid_code", None) for p in out] == [
        "990101001001001",
        None,
        "990101001001002",
    ]
    assert isinstance(out[1], PlacementRefused)
