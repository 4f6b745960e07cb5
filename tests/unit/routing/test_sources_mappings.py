"""Source mappings: 数字城管 codes, sensor metrics and CAP events to the taxonomy."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from routing.district import District, default_data_dir
from routing.sources import SOURCE_FILES, SourceMappings


@pytest.fixture(scope="module")
def mappings() -> SourceMappings:
    return SourceMappings.load(default_data_dir())


def test_files_are_marked_synthetic():
    for name in SOURCE_FILES:
        text = (default_data_dir() / name).read_text(encoding="utf-8")
        assert text.startswith("# Synthetic demo data, not a real place.")
        assert yaml.safe_load(text)["synthetic"] is True


def test_district_carries_the_mappings(district: District):
    assert district.sources.citymgmt_category("event", "0503") == "gas_smell"
    assert district.sources.sensor_category("gas_ppm") == "gas_smell"


def test_every_citymgmt_group_is_covered(mappings: SourceMappings):
    groups = {(row.kind, row.group) for row in mappings.citymgmt_codes.values()}
    for group in ("公用设施", "道路交通", "市容环境", "园林绿化", "其他"):
        assert ("component", group) in groups
    for group in ("市容环境", "宣传广告", "施工管理", "街面秩序", "突发事件"):
        assert ("event", group) in groups
    assert len(mappings.citymgmt_codes) >= 12


@pytest.mark.parametrize(
    ("kind", "code", "category"),
    [
        ("component", "0101", "manhole_cover"),  # 部件 上水井盖
        ("event", "0101", "garbage"),  # the same digits as 事件: 暴露垃圾
        ("component", "0201", "street_light"),
        ("event", "0401", "illegal_parking"),
        ("event", "0302", "illegal_construction"),
        ("event", "050501", "flooding"),  # a 6-digit row of its own
        ("component", "010199", "manhole_cover"),  # 6 digits fall back to their 4
        ("event", "9999", None),
        ("component", "0505", None),  # 事件 only
        ("vehicle", "0101", None),
    ],
)
def test_citymgmt_lookup(mappings: SourceMappings, kind, code, category):
    assert mappings.citymgmt_category(kind, code) == category


def test_citymgmt_row_keeps_its_names(mappings: SourceMappings):
    row = mappings.citymgmt("component", "0103")
    assert row is not None
    assert (row.group, row.name_zh, row.category) == ("公用设施", "雨水井盖", "manhole_cover")


@pytest.mark.parametrize(
    ("metric", "category"),
    [
        ("gas_ppm", "gas_smell"),
        ("water_level_cm", "flooding"),
        ("smoke", "fire_hazard"),
        ("manhole_tilt", "manhole_cover"),
        ("radiation", None),
    ],
)
def test_sensor_lookup(mappings: SourceMappings, metric, category):
    assert mappings.sensor_category(metric) == category


@pytest.mark.parametrize(
    ("texts", "cap_categories", "category"),
    [
        (("暴雨预警", None, None), ["Met"], "flooding"),
        (("Flash Flood Warning", None, None), ["Met"], "flooding"),
        (("Severe thunderstorm", "Thunderstorms", "local floods possible"), ["Met"], "flooding"),
        (("Gas leak", None, None), ["Safety"], "gas_smell"),
        (("天然气管道泄漏", None, None), ["CBRNE"], "gas_smell"),
        (("Wildfire", None, None), ["Fire"], "fire_hazard"),
        (("Structure alert", None, None), ["Safety", "Fire"], "fire_hazard"),  # by CAP category
        (("Heat advisory", None, None), ["Met"], "other"),
        (("Gasoline price", None, None), ["Other"], "other"),  # whole words only
        (("Sinkholes reported", None, None), ["Geo"], "road_damage"),  # plural
    ],
)
def test_cap_lookup(mappings: SourceMappings, texts, cap_categories, category):
    assert mappings.cap_category(texts, cap_categories) == category


def test_event_text_wins_over_the_description(mappings: SourceMappings):
    # The event says gas; the description mentions a fire engine: the event decides.
    assert mappings.cap_category(("燃气泄漏", None, "消防 fire engine on site"), []) == "gas_smell"


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize("name", SOURCE_FILES)
def test_missing_file_in_a_custom_directory_is_named(data_copy: Path, name: str):
    (data_copy / name).unlink()
    with pytest.raises(ValueError, match=re.escape(f"{name}: cannot read")):
        District.load(data_copy)


@pytest.mark.parametrize(
    ("name", "old", "new", "message"),
    [
        (
            "citymgmt_codes.yaml",
            "category: street_light}",
            "category: lamp}",
            "code 7 (component 0201): unknown category 'lamp' (not in taxonomy)",
        ),
        (
            "sensor_metrics.yaml",
            "category: flooding,",
            "category: floods,",
            "metric 3 (water_level_cm): unknown category 'floods'",
        ),
        (
            "cap_events.yaml",
            "category: gas_smell",
            "category: gas",
            "event rule 1: unknown category 'gas'",
        ),
        ("cap_events.yaml", "Fire: fire_hazard", "Fire: blaze", "categories.Fire: unknown"),
        ("cap_events.yaml", "default: other", "default: nothing", "default: unknown category"),
        ("cap_events.yaml", "Fire: fire_hazard", "Flames: fire_hazard", "not a CAP 1.2 category"),
        ("cap_events.yaml", "default: other", "", "`default` must be a non-empty string"),
        (
            "citymgmt_codes.yaml",
            'kind: event, code: "0101"',
            'kind: thing, code: "0101"',
            "code 16: `kind` must be one of component, event, not 'thing'",
        ),
        ("citymgmt_codes.yaml", 'code: "0102"', 'code: "0101"', "(component 0101): duplicate"),
        ("citymgmt_codes.yaml", 'code: "0102"', "code: 102", "`code` must be a non-empty string"),
        ("citymgmt_codes.yaml", 'code: "0102"', 'code: "01-2"', "`code` must be 4 or 6 digits"),
        ("sensor_metrics.yaml", "metric: smoke,", "metric: gas_ppm,", "(gas_ppm): duplicate"),
        ("sensor_metrics.yaml", "metric: smoke,", "metric: Smoke,", "`metric` must match"),
    ],
)
def test_broken_mapping_is_a_clear_error(data_copy: Path, name, old, new, message):
    _edit(data_copy / name, old, new)
    with pytest.raises(ValueError, match=re.escape(name)) as info:
        District.load(data_copy)
    assert message in str(info.value)
