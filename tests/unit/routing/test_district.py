from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from routing.district import District, default_data_dir
from schemas.cases import Priority


def test_demo_district_loads_and_is_marked_synthetic(district: District) -> None:
    assert len(district.grids) == 24
    assert "other" in district.taxonomy
    assert {"chengguan", "shizheng", "street_001", "street_003"} <= set(district.departments)
    assert district.departments["yingji"].name_zh == "区应急管理局"
    assert set(district.sla) == set(Priority)
    for name in ("taxonomy.yaml", "departments.yaml", "routing.yaml", "calendar_overrides.yaml"):
        text = (default_data_dir() / name).read_text(encoding="utf-8")
        assert text.startswith("# Synthetic demo data, not a real place.")
        assert yaml.safe_load(text)["synthetic"] is True


def test_load_from_an_explicit_directory(data_copy: Path) -> None:
    district = District.load(data_copy)
    grid = district.locate(39.902, 116.383)
    assert grid is not None and grid.code == "990101001001001"


def test_calendar_overrides_file_is_optional(data_copy: Path) -> None:
    (data_copy / "calendar_overrides.yaml").unlink()
    assert District.load(data_copy).calendar.overrides.holidays == frozenset()


def _edit_routing(data_dir: Path, old: str, new: str) -> None:
    path = data_dir / "routing.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("lead: gas_company", "lead: fire_brigade", "rule 1: unknown department 'fire_brigade'"),
        ("co: [yingji]", "co: [yingji, nobody]", "rule 1: unknown department 'nobody'"),
        ("category: gas_smell", "category: gas_smel", "rule 1: unknown category 'gas_smel'"),
        ('streets: ["990101003"]', 'streets: ["990101009"]', "rule 4: street 990101009"),
        (
            'communities: ["990101002002"]',
            'communities: ["990101002009"]',
            "community 990101002009",
        ),
        (
            "  P4: {respond_hours: 48, resolve_working_days: 5, verify_hours: 72}\n",
            "",
            "no policy for P4",
        ),
    ],
)
def test_broken_routing_is_a_clear_error(data_copy: Path, old: str, new: str, message: str) -> None:
    _edit_routing(data_copy, old, new)
    with pytest.raises(ValueError, match="routing.yaml") as info:
        District.load(data_copy)
    assert message in str(info.value)


def test_missing_file_is_named(data_copy: Path) -> None:
    (data_copy / "departments.yaml").unlink()
    with pytest.raises(ValueError, match=r"departments\.yaml: cannot read"):
        District.load(data_copy)


def test_broken_grid_is_named(data_copy: Path) -> None:
    path = data_copy / "grids.geojson"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('"community_code": "990101002001"', '"community_code": "x"', 1))
    with pytest.raises(ValueError, match=r"grids\.geojson: feature 9 \(990101002001001\)"):
        District.load(data_copy)


def test_not_yaml_is_named(data_copy: Path) -> None:
    (data_copy / "taxonomy.yaml").write_text("categories: [unclosed\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"taxonomy\.yaml: not valid YAML"):
        District.load(data_copy)
