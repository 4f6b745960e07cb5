from __future__ import annotations

import pytest

from routing.district import District
from routing.priority import PriorityRules, assess_priority, raise_one
from routing.taxonomy import Category, Taxonomy
from schemas.cases import Priority


@pytest.fixture(scope="module")
def taxonomy(district: District) -> Taxonomy:
    return district.taxonomy


def _category(taxonomy: Taxonomy, code: str) -> Category:
    category = taxonomy.get(code)
    assert category is not None
    return category


def test_default_priority_of_the_category(taxonomy: Taxonomy) -> None:
    priority, reasons = assess_priority(_category(taxonomy, "road_damage"), "路面有个坑")
    assert priority is Priority.P3
    assert reasons == ("default P3 for road_damage",)


def test_chinese_keyword_raises_to_p1(taxonomy: Taxonomy) -> None:
    priority, reasons = assess_priority(_category(taxonomy, "garbage"), "垃圾堆旁边闻到燃气味")
    assert priority is Priority.P1
    assert reasons == ("default P4 for garbage", "P1: keyword 燃气 (gas)")


def test_english_keyword_is_case_insensitive_and_whole_word(taxonomy: Taxonomy) -> None:
    road = _category(taxonomy, "road_damage")
    priority, reasons = assess_priority(road, "Road surface COLLAPSED near the school")
    assert priority is Priority.P1
    assert reasons[-1] == "P1: keyword collapsed (collapse)"
    assert assess_priority(road, "Fires reported")[0] is Priority.P1
    # a word that merely contains a keyword does not count
    assert assess_priority(road, "fireworks debris and a gasket on the road")[0] is Priority.P3


def test_bare_fire_character_in_other_words_does_not_raise(taxonomy: Taxonomy) -> None:
    priority, _ = assess_priority(_category(taxonomy, "garbage"), "火车站广场垃圾没人清")
    assert priority is Priority.P4


def test_p2_keyword_rule(taxonomy: Taxonomy) -> None:
    priority, reasons = assess_priority(_category(taxonomy, "manhole_cover"), "有人掉进去受伤了")
    assert priority is Priority.P2
    assert reasons == ("default P2 for manhole_cover",)  # no raise, no reason
    priority, reasons = assess_priority(_category(taxonomy, "street_light"), "someone injured")
    assert priority is Priority.P2
    assert reasons[-1] == "P2: keyword injured (people trapped or injured)"


def test_heat_raises_one_level(taxonomy: Taxonomy) -> None:
    noise = _category(taxonomy, "noise")
    assert assess_priority(noise, "广场舞太吵", report_count=2)[0] is Priority.P4
    priority, reasons = assess_priority(noise, "广场舞太吵", report_count=3)
    assert priority is Priority.P3
    assert reasons[-1] == "P3: heat, 3 reports (>= 3)"


def test_heat_after_keyword_and_p1_is_the_ceiling(taxonomy: Taxonomy) -> None:
    gas = _category(taxonomy, "gas_smell")
    assert assess_priority(gas, "gas", report_count=10) == (
        Priority.P1,
        ("default P1 for gas_smell",),
    )
    assert raise_one(Priority.P1) is Priority.P1
    assert raise_one(Priority.P4) is Priority.P3


def test_source_and_cap_severity(taxonomy: Taxonomy) -> None:
    flooding = _category(taxonomy, "flooding")
    noise = _category(taxonomy, "noise")
    priority, reasons = assess_priority(noise, "alarm", source_type="org.gridhub.sensor.alarm")
    assert priority is Priority.P2
    assert reasons[-1] == "P2: source org.gridhub.sensor.alarm"
    priority, reasons = assess_priority(
        flooding,
        "Flood warning",
        source_type="org.gridhub.cap.alert",
        attributes={"severity": "extreme"},
    )
    assert priority is Priority.P1
    assert reasons[-1] == "P1: CAP severity extreme"


def test_rules_can_be_passed_explicitly(taxonomy: Taxonomy) -> None:
    rules = PriorityRules.from_data(
        {"priority_rules": [{"keywords": ["井盖"], "priority": "P1", "reason": "test"}]}, "inline"
    )
    priority, reasons = assess_priority(_category(taxonomy, "road_damage"), "井盖丢了", rules=rules)
    assert priority is Priority.P1
    assert reasons[-1] == "P1: keyword 井盖 (test)"
    # without the rule the default demo rules apply, and 井盖 is no keyword there
    assert assess_priority(_category(taxonomy, "road_damage"), "井盖丢了")[0] is Priority.P3


def test_bad_priority_rules_are_named() -> None:
    with pytest.raises(ValueError, match="inline: priority_rules 1: `priority`"):
        PriorityRules.from_data(
            {"priority_rules": [{"keywords": ["x"], "priority": "urgent", "reason": "r"}]},
            "inline",
        )
    with pytest.raises(ValueError, match="heat_threshold"):
        PriorityRules.from_data({"heat_threshold": 1}, "inline")
