"""Reports, case actions and the JSON Schema export."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from schemas.cases import Action, CaseAction
from schemas.export import CONTRACTS, json_schema, json_schemas
from schemas.reports import ReportSubmission, community_of, street_of

GRID = "990101001001001"


def test_report_submission_round_trip():
    sub = ReportSubmission.model_validate(
        {
            "category": "manhole_cover",
            "description": "  井盖缺失  ",
            "location": {"lat": 39.9, "lon": 116.4, "crs": "gcj02"},
            "report_id": "6f1d3c52-6a53-4e0e-9a49-1c0a3f7d2b10",
        }
    )
    assert sub.description == "井盖缺失"
    again = ReportSubmission.model_validate_json(sub.model_dump_json())
    assert again == sub


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"category": "x", "description": "d"}, None),  # neither location nor grid
        ({"category": "Bad Code", "description": "d", "grid_code": "990101001001001"}, "category"),
        ({"category": "x", "description": "", "grid_code": "990101001001001"}, "description"),
        ({"category": "x", "description": "d", "grid_code": "123"}, "grid_code"),
        ({"category": "x", "description": "d", "location": {"lat": 91, "lon": 0}}, "lat"),
        ({"category": "x", "description": "d", "grid_code": "990101001001001", "x": 1}, "x"),
        (
            {"category": "x", "description": "d" * 2001, "grid_code": "990101001001001"},
            "description",
        ),
    ],
)
def test_bad_reports_name_the_field(body, field):
    with pytest.raises(ValidationError) as caught:
        ReportSubmission.model_validate(body)
    locs = [".".join(map(str, e["loc"])) for e in caught.value.errors()]
    if field is None:
        assert "location or grid_code" in str(caught.value)
    else:
        assert any(field in loc for loc in locs), locs


def test_area_codes():
    assert community_of("990101002003004") == "990101002003"
    assert street_of("990101002003004") == "990101002"


@pytest.mark.parametrize(
    ("body", "missing"),
    [
        ({"action": "reject"}, "reason"),
        ({"action": "merge"}, "into"),
        ({"action": "verify"}, "passed"),
        ({"action": "verify", "passed": False}, "reason"),
        ({"action": "rate", "score": 6}, "score"),
        ({"action": "open"}, "internal"),
    ],
)
def test_case_actions_require_their_fields(body, missing):
    with pytest.raises(ValidationError) as caught:
        CaseAction.model_validate(body)
    assert missing in str(caught.value)


def test_valid_case_action():
    act = CaseAction.model_validate({"action": "verify", "passed": True, "note": "ok"})
    assert act.action is Action.VERIFY


def test_every_contract_exports_a_json_schema():
    schemas = json_schemas()
    assert set(schemas) == set(CONTRACTS)
    for name, schema in schemas.items():
        assert schema["$id"] == f"/schemas/{name}.json"
        assert schema["type"] == "object"
        json.dumps(schema)  # serialisable
    assert "category" in json_schema("report-submission")["required"]
    case_props = json_schema("case")["properties"]
    for name in (
        "id",
        "state",
        "category",
        "priority",
        "grid_code",
        "lead_department",
        "departments",
        "report_count",
        "respond_by",
        "resolve_by",
        "sla_state",
        "rework_count",
        "escalation_level",
        "merged_into",
        "version",
    ):
        assert name in case_props
