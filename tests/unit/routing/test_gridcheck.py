"""``gridhub grids import`` checks: every problem with its feature and reason."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from routing.district import default_data_dir
from routing.gridcheck import KnownAreas, areas_of, check, load_areas

DEMO = json.loads((default_data_dir() / "grids.geojson").read_text(encoding="utf-8"))
RIVERSIDE = default_data_dir() / "riverside"


def square(x: float, y: float, size: float = 0.001) -> dict:
    ring = [[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]
    return {"type": "Polygon", "coordinates": [ring]}


def feature(code: str, geometry: dict) -> dict:
    return {
        "type": "Feature",
        "properties": {
            "code": code,
            "name": f"网格{code[-3:]}",
            "street_code": code[:9],
            "street_name": "示范街道",
            "community_code": code[:12],
            "community_name": "东园社区",
        },
        "geometry": geometry,
    }


def collection(*features: dict) -> dict:
    return {"type": "FeatureCollection", "district_code": "990101", "features": list(features)}


def reasons(data: dict, known: KnownAreas | None = None) -> list[str]:
    registry, problems = check(data, known)
    assert registry is None
    return [str(p) for p in problems]


def test_both_demo_districts_pass_and_riverside_is_not_rectangles() -> None:
    registry, problems = check(DEMO, areas_of(check(DEMO)[0]))  # type: ignore[arg-type]
    assert problems == [] and registry is not None and len(registry) == 24
    riverside = json.loads((RIVERSIDE / "grids.geojson").read_text(encoding="utf-8"))
    registry, problems = check(riverside, load_areas(RIVERSIDE / "areas.yaml"))
    assert problems == [] and registry is not None and len(registry) == 14
    corners = [len(g.polygon.exterior.coords) - 1 for g in registry]  # type: ignore[union-attr]
    assert max(corners) > 4 and sum(c != 4 for c in corners) >= 10


def test_a_bad_15_digit_code_is_refused_with_its_feature() -> None:
    bad = collection(feature("99010100100100", square(116.0, 39.0)))
    assert reasons(bad) == ["feature 1 (99010100100100): grid code must be 15 digits"]
    other = collection(feature("880101001001001", square(116.0, 39.0)))
    assert reasons(other) == [
        "feature 1 (880101001001001): code 880101001001001 is not in district 990101"
    ]
    twice = collection(
        feature("990101001001001", square(116.0, 39.0)),
        feature("990101001001001", square(116.1, 39.0)),
    )
    assert reasons(twice) == [
        "feature 2 (990101001001001): code 990101001001001 is also feature 1 (990101001001001)"
    ]


def test_an_invalid_polygon_is_refused_with_shapelys_reason() -> None:
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    (reason,) = reasons(collection(feature("990101001001001", bowtie)))
    assert reason.startswith("feature 1 (990101001001001): invalid polygon: Self-intersection")


def test_overlaps_above_the_tolerance_are_refused_touching_is_fine() -> None:
    a = feature("990101001001001", square(116.0, 39.0))
    touching = feature("990101001001002", square(116.001, 39.0))
    assert check(collection(a, touching))[1] == []
    overlapping = feature("990101001001002", square(116.0005, 39.0))
    (reason,) = reasons(collection(a, overlapping))
    assert reason.startswith("feature 1 (990101001001001): overlaps feature 2 (990101001001002)")
    assert "50.0% of the smaller grid" in reason
    sliver = feature("990101001001002", square(116.000995, 39.0))  # 0.5 %: tolerated
    assert check(collection(a, sliver))[1] == []


def test_a_gap_inside_a_community_is_refused() -> None:
    ring = [
        feature(f"990101001001{n:03d}", square(116.0 + 0.001 * x, 39.0 + 0.001 * y))
        for n, (x, y) in enumerate(
            [(x, y) for y in range(3) for x in range(3) if (x, y) != (1, 1)], start=1
        )
    ]
    (reason,) = reasons(collection(*ring))
    assert reason.startswith("community 990101001001 (东园社区): gap of ")
    assert "inside the community" in reason


def test_unknown_streets_and_communities_are_refused() -> None:
    known = KnownAreas({"990101001": "示范街道"}, {"990101001001": "东园社区"})
    new = collection(feature("990101009001001", square(116.0, 39.0)))
    assert reasons(new, known) == [
        "feature 1 (990101009001001): unknown street 990101009",
        "feature 1 (990101009001001): unknown community 990101009001",
    ]


def test_every_problem_is_reported_not_just_the_first() -> None:
    data = copy.deepcopy(DEMO)
    data["features"][0]["properties"]["code"] = "12"
    data["features"][2]["geometry"] = copy.deepcopy(data["features"][3]["geometry"])  # on top
    problems = check(data, areas_of(check(DEMO)[0]))[1]  # type: ignore[arg-type]
    assert any(p.feature.startswith("feature 1 (12)") for p in problems)
    assert any("overlaps" in p.reason for p in problems)


def test_areas_file(tmp_path: Path) -> None:
    known = load_areas(RIVERSIDE / "areas.yaml")
    assert known is not None and set(known.streets) == {"990202001", "990202002"}
    assert load_areas(tmp_path / "areas.yaml") is None
