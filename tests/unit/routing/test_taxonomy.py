from __future__ import annotations

import re
from pathlib import Path

import pytest

from routing.district import default_data_dir
from routing.taxonomy import Taxonomy
from schemas.cases import Priority
from schemas.reports import CATEGORY_PATTERN


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return Taxonomy.load(default_data_dir() / "taxonomy.yaml")


def test_demo_taxonomy_has_the_expected_categories(taxonomy: Taxonomy) -> None:
    codes = set(taxonomy.codes())
    assert {"manhole_cover", "road_damage", "gas_smell", "neighbour_dispute", "other"} <= codes
    assert 12 <= len(taxonomy) <= 16
    assert all(re.match(CATEGORY_PATTERN, code) for code in codes)


def test_get_and_contains(taxonomy: Taxonomy) -> None:
    gas = taxonomy.get("gas_smell")
    assert gas is not None
    assert gas.name_zh == "燃气异味"
    assert gas.kind == "event"
    assert gas.default_priority is Priority.P1
    assert "gas_smell" in taxonomy
    assert "unicorn" not in taxonomy
    assert taxonomy.get("unicorn") is None


def test_component_and_event_kinds_and_dedup_radius(taxonomy: Taxonomy) -> None:
    manhole = taxonomy.get("manhole_cover")
    road = taxonomy.get("road_damage")
    assert manhole is not None and road is not None
    assert manhole.kind == "component"
    assert manhole.dedup_radius_m == 100
    assert road.dedup_radius_m == 200  # the default when the file gives none


def test_as_json_is_the_categories_endpoint_shape(taxonomy: Taxonomy) -> None:
    body = taxonomy.as_json()
    assert [item["code"] for item in body] == list(taxonomy.codes())
    first = body[0]
    assert set(first) == {"code", "name_zh", "name_en", "kind", "default_priority", "public"}
    assert first["default_priority"] in {"P1", "P2", "P3", "P4"}


def test_a_category_is_public_unless_its_entry_says_not(taxonomy: Taxonomy) -> None:
    dispute, road = taxonomy.get("neighbour_dispute"), taxonomy.get("road_damage")
    assert dispute is not None and road is not None
    assert dispute.public is False and road.public is True


def test_a_public_flag_that_is_not_a_boolean_is_refused(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "categories:\n  - {code: a, name_zh: 甲, name_en: A, kind: event,"
        " default_priority: P3, public: 'no'}\n",
    )
    with pytest.raises(ValueError, match="public"):
        Taxonomy.load(path)


def test_search_finds_by_chinese_and_english_keyword(taxonomy: Taxonomy) -> None:
    assert [c.code for c in taxonomy.search("井盖")] == ["manhole_cover"]
    assert "road_damage" in [c.code for c in taxonomy.search("POTHOLE")]
    assert taxonomy.search("   ") == []


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "taxonomy.yaml"
    path.write_text(body, encoding="utf-8")
    return path


def test_bad_code_is_named_in_the_error(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "categories:\n  - {code: Bad Code, name_zh: 坏, name_en: bad, kind: event,"
        " default_priority: P2}\n",
    )
    with pytest.raises(ValueError, match=r"taxonomy\.yaml: category 1 \(Bad Code\): code must"):
        Taxonomy.load(path)


def test_bad_priority_and_duplicate_are_rejected(tmp_path: Path) -> None:
    entry = "  - {code: x, name_zh: 甲, name_en: x, kind: event, default_priority: %s}\n"
    with pytest.raises(ValueError, match="default_priority"):
        Taxonomy.load(_write(tmp_path, "categories:\n" + entry % "P9"))
    with pytest.raises(ValueError, match="duplicate category code 'x'"):
        Taxonomy.load(_write(tmp_path, "categories:\n" + entry % "P1" + entry % "P2"))
