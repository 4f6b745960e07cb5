from __future__ import annotations

from pathlib import Path

import pytest

from routing.district import District, default_data_dir
from routing.rules import RoutingRules

STREET1, COMMUNITY1 = "990101001", "990101001001"
STREET2, PEDESTRIAN = "990101002", "990101002002"
STREET3, COMMUNITY3 = "990101003", "990101003001"


@pytest.fixture(scope="module")
def rules() -> RoutingRules:
    return RoutingRules.load(default_data_dir() / "routing.yaml")


def test_category_match_with_co_departments(rules: RoutingRules) -> None:
    decision = rules.route("gas_smell", STREET1, COMMUNITY1)
    assert decision is not None
    assert decision.lead == "gas_company"
    assert decision.co == ("yingji",)
    assert decision.departments == ("gas_company", "yingji")
    assert decision.reasons == ("rule 1: gas_smell → gas_company",)


def test_a_rule_can_list_several_categories(rules: RoutingRules) -> None:
    for category in ("street_light", "water_leak"):
        decision = rules.route(category, STREET1, COMMUNITY1)
        assert decision is not None and decision.lead == "shizheng"


def test_street_specific_rule_wins_in_its_street_only(rules: RoutingRules) -> None:
    in_street3 = rules.route("manhole_cover", STREET3, COMMUNITY3)
    assert in_street3 is not None
    assert in_street3.lead == "street_003"
    assert in_street3.reasons == ("rule 4: manhole_cover in street 990101003 → street_003",)
    elsewhere = rules.route("manhole_cover", STREET1, COMMUNITY1)
    assert elsewhere is not None
    assert elsewhere.lead == "shizheng"
    assert elsewhere.reasons[-1].startswith("rule 5: manhole_cover → shizheng")


def test_community_specific_rule(rules: RoutingRules) -> None:
    pedestrian = rules.route("illegal_parking", STREET2, PEDESTRIAN)
    assert pedestrian is not None
    assert (pedestrian.lead, pedestrian.co) == ("chengguan", ("gongan",))
    assert "in community 990101002002" in pedestrian.reasons[-1]
    other = rules.route("illegal_parking", STREET2, "990101002001")
    assert other is not None and other.lead == "gongan"


def test_neighbour_disputes_go_to_the_street_office(rules: RoutingRules) -> None:
    for street, office in ((STREET1, "street_001"), (STREET2, "street_002")):
        decision = rules.route("neighbour_dispute", street, street + "001")
        assert decision is not None and decision.lead == office
    assert rules.route("neighbour_dispute", None, None) is None


def test_excluded_lead_reroutes_to_the_next_rule(rules: RoutingRules) -> None:
    decision = rules.route("road_damage", STREET1, COMMUNITY1, exclude=frozenset({"shizheng"}))
    assert decision is not None
    assert decision.lead == "zhujian"
    assert decision.reasons[0] == "rule 6: skipped, shizheng returned the case"
    assert decision.reasons[-1] == "rule 7: road_damage → zhujian"


def test_excluded_co_department_is_dropped(rules: RoutingRules) -> None:
    decision = rules.route("gas_smell", STREET1, COMMUNITY1, exclude=frozenset({"yingji"}))
    assert decision is not None
    assert (decision.lead, decision.co) == ("gas_company", ())


def test_every_candidate_excluded_is_unroutable(rules: RoutingRules) -> None:
    gone = frozenset({"huanbao", "gongan"})
    assert rules.route("noise", STREET1, COMMUNITY1, exclude=gone) is None


def test_unroutable_category_stays_with_the_operator(rules: RoutingRules) -> None:
    assert rules.route("other", STREET1, COMMUNITY1) is None
    assert rules.route("no_such_category", STREET1, COMMUNITY1) is None


def test_every_demo_category_but_other_routes_everywhere(district: District) -> None:
    for grid in district.grids:
        for category in district.taxonomy.codes():
            decision = district.route(category, grid.street_code, grid.community_code)
            assert (decision is None) == (category == "other"), (category, grid.code)


def test_bad_rule_is_named(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text("rules:\n  - {category: noise, lead: gongan}\n  - {category: noise}\n")
    with pytest.raises(ValueError, match=r"routing\.yaml: rule 2: `lead`"):
        RoutingRules.load(path)
    path.write_text("rules:\n  - {category: noise, lead: gongan, streets: [990101001]}\n")
    with pytest.raises(ValueError, match="rule 1: `streets`"):
        RoutingRules.load(path)
