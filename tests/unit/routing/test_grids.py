from __future__ import annotations

import json
from pathlib import Path

import pytest
import shapely
from shapely.geometry import Point, box

from routing.district import default_data_dir
from routing.grids import GridRegistry


@pytest.fixture(scope="module")
def grids() -> GridRegistry:
    return GridRegistry.load(default_data_dir() / "grids.geojson")


def test_demo_district_shape(grids: GridRegistry) -> None:
    assert len(grids) == 24
    assert len(grids.streets()) == 3
    assert len(grids.communities()) == 6
    assert all(code.startswith("990101") and len(code) == 15 for code in grids.codes())
    assert list(grids.codes()) == sorted(grids.codes())
    assert all(grid.synthetic for grid in grids)


@pytest.mark.parametrize(
    ("lat", "lon", "code"),
    [
        (39.9020, 116.3830, "990101001001001"),
        (39.9070, 116.3890, "990101001001004"),
        (39.9100, 116.3830, "990101001002001"),
        (39.9020, 116.3950, "990101002001001"),
        (39.9150, 116.4130, "990101003002004"),
    ],
)
def test_locate_points_inside(grids: GridRegistry, lat: float, lon: float, code: str) -> None:
    grid = grids.locate(lat, lon)
    assert grid is not None
    assert grid.code == code
    assert grid.community_code == code[:12]
    assert grid.street_code == code[:9]


@pytest.mark.parametrize(
    ("lat", "lon"), [(39.95, 116.50), (39.8999, 116.383), (0.0, 0.0), (float("nan"), 116.38)]
)
def test_locate_outside_is_none(grids: GridRegistry, lat: float, lon: float) -> None:
    assert grids.locate(lat, lon) is None


def test_shared_edges_and_corners_resolve_to_the_lowest_code(grids: GridRegistry) -> None:
    # the corner shared by the four grids of 东园社区
    corner = grids.locate(39.9045, 116.386)
    assert corner is not None and corner.code == "990101001001001"
    # the edge between grid 002 and grid 004 (north of 002)
    edge = grids.locate(39.9045, 116.389)
    assert edge is not None and edge.code == "990101001001002"
    # the street boundary between 示范街道 and 试点街道
    street_edge = grids.locate(39.902, 116.392)
    assert street_edge is not None and street_edge.code == "990101001001002"
    # the outer boundary of the district still belongs to it
    outer = grids.locate(39.900, 116.383)
    assert outer is not None and outer.code == "990101001001001"


def test_locate_many_agrees_with_locate(grids: GridRegistry) -> None:
    points = [(39.902, 116.383), (39.9045, 116.386), (39.95, 116.5), (39.915, 116.413)]
    expected = [grids.locate(lat, lon) for lat, lon in points]
    assert grids.locate_many(points) == expected
    assert [g.code if g else None for g in expected] == [
        "990101001001001",
        "990101001001001",
        None,
        "990101003002004",
    ]
    assert grids.locate_many([]) == []


def test_one_point_and_a_batch_find_the_grid_the_polygons_cover(grids: GridRegistry) -> None:
    """The cell index (one point) and the STRtree (a batch) agree with a plain scan of
    the polygons, lowest code first, over a raster that hits edges and corners too."""
    lats = [39.8995 + 0.0005 * n for n in range(42)]
    lons = [116.3825 + 0.0005 * n for n in range(66)]
    points = [(lat, lon) for lat in lats for lon in lons]
    scanned = [
        next((g for g in grids if shapely.intersects_xy(g.polygon, lon, lat)), None)
        for lat, lon in points
    ]
    assert [grids.locate(lat, lon) for lat, lon in points] == scanned
    assert grids.locate_many(points) == scanned
    assert any(g is None for g in scanned) and any(g is not None for g in scanned)


def test_get_and_names(grids: GridRegistry) -> None:
    grid = grids.get("990101002002003")
    assert grid is not None
    assert grid.street_name == "试点街道"
    assert grid.community_name == "北苑社区"
    assert grid.name == "北苑社区第3网格"
    assert grids.get("990101009009009") is None
    assert "990101002002003" in grids


def test_grids_of_a_community_tile_without_gaps(grids: GridRegistry) -> None:
    for community in grids.communities():
        members = [g.polygon for g in grids if g.community_code == community]
        assert len(members) == 4
        union = members[0].union(members[1]).union(members[2]).union(members[3])
        assert union.area == pytest.approx(union.envelope.area, rel=1e-9)
        for polygon in members:
            # each grid is roughly 300-600 m across
            minx, miny, maxx, maxy = polygon.bounds
            assert 300 < (maxx - minx) * 85_300 < 600
            assert 300 < (maxy - miny) * 111_200 < 600


def test_grids_touching_an_area_and_a_point(grids: GridRegistry) -> None:
    area = box(116.3845, 39.9030, 116.3875, 39.9060)  # around the 东园 centre corner
    assert [g.code[-3:] for g in grids.grids_touching(area)] == ["001", "002", "003", "004"]
    # an area that only meets grid 002 along its edge does not count it
    inside_001 = box(116.380, 39.900, 116.386, 39.9045)
    assert [g.code for g in grids.grids_touching(inside_001)] == ["990101001001001"]
    point = Point(116.383, 39.902)
    assert [g.code for g in grids.grids_touching(point)] == ["990101001001001"]
    assert grids.grids_touching(Point(117.0, 40.5)) == []


def test_geojson_is_a_serialisable_feature_collection(grids: GridRegistry) -> None:
    body = grids.geojson()
    assert body["type"] == "FeatureCollection"
    assert body["synthetic"] is True
    assert "not a real place" in body["description"]
    assert len(body["features"]) == 24
    feature = body["features"][0]
    assert feature["geometry"]["type"] == "Polygon"
    assert {"code", "name", "street_code", "street_name", "community_code", "community_name"} <= (
        set(feature["properties"])
    )
    assert json.loads(json.dumps(body, ensure_ascii=False)) == body
    body["features"].clear()  # a copy: the registry is not changed
    assert len(grids.geojson()["features"]) == 24


def _collection(features: list[dict[str, object]]) -> str:
    return json.dumps({"type": "FeatureCollection", "features": features})


def _feature(code: str, community: str, street: str) -> dict[str, object]:
    return {
        "type": "Feature",
        "properties": {
            "code": code,
            "name": "n",
            "street_code": street,
            "street_name": "s",
            "community_code": community,
            "community_name": "c",
        },
        "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]},
    }


@pytest.mark.parametrize(
    ("feature", "message"),
    [
        (_feature("12345", "12345", "123"), "grid code must be 15 digits"),
        (_feature("990101001001001", "990101001002", "990101001"), "community_code must be"),
        (_feature("990101001001001", "990101001001", "990101002"), "street_code must be"),
    ],
)
def test_bad_codes_are_named(tmp_path: Path, feature: dict[str, object], message: str) -> None:
    path = tmp_path / "grids.geojson"
    path.write_text(_collection([feature]), encoding="utf-8")
    with pytest.raises(ValueError, match=message) as info:
        GridRegistry.load(path)
    assert "grids.geojson: feature 1" in str(info.value)


def test_duplicate_and_invalid_geometry(tmp_path: Path) -> None:
    path = tmp_path / "grids.geojson"
    good = _feature("990101001001001", "990101001001", "990101001")
    path.write_text(_collection([good, good]), encoding="utf-8")
    with pytest.raises(ValueError, match="duplicate grid code"):
        GridRegistry.load(path)
    bowtie = _feature("990101001001001", "990101001001", "990101001")
    bowtie["geometry"] = {
        "type": "Polygon",
        "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]],
    }
    path.write_text(_collection([bowtie]), encoding="utf-8")
    with pytest.raises(ValueError, match="invalid"):
        GridRegistry.load(path)


def test_the_communities_a_point_near_a_community_line_may_reach() -> None:
    """东园 (990101001001) meets 西园 to the north at latitude 39.909 and 南苑 to the
    east at longitude 116.392; a merge radius reaches across only near the line."""
    from routing.district import District

    grids = District.load().grids
    assert grids.communities_near("990101001001", 39.9088, 116.3830, 100) == ["990101001002"]
    assert grids.communities_near("990101001001", 39.9088, 116.3915, 100) == [
        "990101001002",
        "990101002001",
        "990101002002",  # the corner: within 100 m of both neighbours' ground
    ]
    assert grids.communities_near("990101001001", 39.9040, 116.3850, 100) == []
    assert grids.communities_near("990101001001", 39.9040, 116.3850, 2000) != []
