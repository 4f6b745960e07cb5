"""数字城管 cases become reports: the code table decides the category, the case
number the report id and external reference; a bad case names its field."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import orjson
import pytest

from routing.geo import wgs84_to_gcj02
from routing.provenance import natural_key
from schemas.envelope import (
    CITYMGMT_CASE,
)
from streams.logic.intake import (
    REPORT_ID_NAMESPACE,
    normalise,
)
from tests.support.envelopes import (
    LATER,
    citymgmt,
    refused,
)


def test_citymgmt_case_normalises(district):
    report = normalise(citymgmt(), district, LATER)
    assert report.category == "manhole_cover"
    key = natural_key("citymgmt", "urn:gridhub:citymgmt", "CG20261126000123")
    assert report.id == str(uuid.uuid5(REPORT_ID_NAMESPACE, key))
    assert report.external_ref == "CG20261126000123"
    assert report.grid_code == "990101001001001"
    assert report.source_type == CITYMGMT_CASE
    assert report.occurred_at == datetime(2026, 11, 26, 0, 40, tzinfo=UTC)
    assert report.received_at == LATER  # the hub's time; the sender's is occurred_at
    assert report.reporter is not None and report.reporter.name == "监督员 张三"
    assert report.attributes == {
        "case_number": "CG20261126000123",
        "citymgmt_code": "0103",
        "citymgmt_kind": "component",
        "citymgmt_name": "雨水井盖",
        "citymgmt_status": "立案",
    }
    assert "fold_key" not in report.attributes
    orjson.dumps(report.attributes)


def test_republished_citymgmt_case_is_the_same_report(district):
    first = normalise(citymgmt(), district, LATER)
    again = normalise(citymgmt(status="处置中"), district, LATER)  # a new CloudEvent id
    assert first.id == again.id


def test_citymgmt_kind_decides_the_meaning_of_a_code(district):
    assert normalise(citymgmt(kind="event", category_code="0101"), district, LATER).category == (
        "garbage"
    )
    six = normalise(citymgmt(kind="event", category_code="050599"), district, LATER)
    assert six.category == "flooding"


def test_citymgmt_grid_code_and_gcj02(district):
    by_code = normalise(citymgmt(location=None, grid_code="990101003002004"), district, LATER)
    assert by_code.grid_code == "990101003002004" and by_code.location is None
    lat, lon = wgs84_to_gcj02(39.915, 116.413)
    moved = normalise(citymgmt(location={"lat": lat, "lon": lon, "crs": "gcj02"}), district, LATER)
    assert moved.grid_code == "990101003002004"
    assert moved.location is not None and moved.location.crs == "wgs84"


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"category_code": "9999"}, "data.category_code: unknown component code '9999'"),
        ({"category_code": "01a3"}, "data.category_code: String should match"),
        ({"kind": "部件"}, "data.kind:"),
        ({"case_number": "x"}, "data.case_number:"),
        ({"description": ""}, "data.description:"),
        ({"description": "长" * 2001}, "data.description:"),
        ({"location": None}, "location or grid_code is required"),
        ({"location": None, "grid_code": "990101999999999"}, "data.grid_code: 990101999999999"),
        ({"location": {"lat": 30.0, "lon": 120.0}}, "data.location: outside every grid"),
        ({"occurred_at": None}, "data.occurred_at: Field required"),
        ({"colour": "red"}, "data.colour: Extra inputs are not permitted"),
        ({"status": "x" * 33}, "data.status:"),
    ],
)
def test_bad_citymgmt_cases_name_the_field(district, changes, needle):
    assert needle in refused(citymgmt(**changes), district)
