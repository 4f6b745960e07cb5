"""The Open311 request translation, without HTTP: a ``POST requests`` form as a
report, the ``GET requests`` arguments as a query, a case as a service request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gateway.open311.config import OPEN311_SOURCE
from gateway.open311.render import Open311Error
from gateway.open311.requests import (
    CLOSED_STATES,
    FORM_CONTENT_TYPE,
    MAX_WINDOW,
    OPEN_STATES,
    parse_form,
    request_query,
    service_request,
    submission,
)
from routing.district import District
from schemas.publicdata import snap_point
from tests.support.demo_district import GRID, INSIDE, OTHER_GRID

NOW = datetime(2026, 8, 15, 6, 30, tzinfo=UTC)


def form(**fields: Any) -> dict[str, str]:
    """A parsed form: a manhole cover at a point, changed by ``fields`` (None: left out)."""
    sent = {"service_code": "manhole_cover", "lat": str(INSIDE["lat"]), "long": str(INSIDE["lon"])}
    for name, value in fields.items():
        if value is None:
            sent.pop(name, None)
        else:
            sent[name] = str(value)
    return sent


def refused(call: Any, status: int = 400) -> str:
    with pytest.raises(Open311Error) as caught:
        call()
    assert caught.value.status_code == status
    return caught.value.description


# -- the form ------------------------------------------------------------------------------


def test_form_fields_sent_empty_are_not_sent_and_the_first_value_wins() -> None:
    body = "service_code=garbage&description=&description=x&phone=+138+&lat=1&lat=2"
    assert parse_form(FORM_CONTENT_TYPE, body.encode()) == {
        "service_code": "garbage",
        "description": "x",
        "phone": "138",
        "lat": "1",
    }


def test_form_must_be_form_encoded_utf8() -> None:
    assert FORM_CONTENT_TYPE in refused(lambda: parse_form("application/json", b"{}"))
    assert "UTF-8" in refused(lambda: parse_form(FORM_CONTENT_TYPE, "a=井".encode("gb18030")))


# -- the form as a report --------------------------------------------------------------------


def test_a_point_with_who_and_when(district: District) -> None:
    report = submission(
        form(
            first_name="三",
            last_name="张",
            phone="13800000000",
            description="井盖缺失",
            **{"attribute[occurred_at]": "2026-08-15T14:00:00+08:00"},
        ),
        district,
        NOW,
    )
    assert report.category == "manhole_cover"
    assert report.description == "井盖缺失"
    assert report.location is not None
    assert (report.location.lat, report.location.lon, report.location.crs) == (
        INSIDE["lat"],
        INSIDE["lon"],
        "wgs84",
    )
    assert report.grid_code is None  # placed by the district, not here
    assert report.reporter is not None
    assert (report.reporter.name, report.reporter.phone) == ("张 三", "13800000000")
    assert report.occurred_at == datetime(2026, 8, 15, 6, tzinfo=UTC)


def test_description_defaults_to_the_service_name(district: District) -> None:
    assert submission(form(), district, NOW).description == "井盖破损缺失"


def test_gcj02_points_keep_their_crs(district: District) -> None:
    report = submission(form(**{"attribute[crs]": "gcj02"}), district, NOW)
    assert report.location is not None and report.location.crs == "gcj02"


@pytest.mark.parametrize(
    "place",
    [
        {"address_id": OTHER_GRID},
        {"attribute[grid_code]": OTHER_GRID},
        {"address_string": f"东园社区第2网格, 示范街道 ({OTHER_GRID})"},
        {"address_string": "东园社区第2网格门口"},
    ],
)
def test_a_grid_instead_of_a_point(district: District, place: dict[str, str]) -> None:
    report = submission(form(lat=None, long=None, **place), district, NOW)
    assert report.location is None and report.grid_code == OTHER_GRID


def test_a_point_wins_over_an_address_id_but_keeps_the_grid_attribute(
    district: District,
) -> None:
    assert submission(form(address_id=OTHER_GRID), district, NOW).grid_code is None
    kept = submission(form(**{"attribute[grid_code]": GRID}), district, NOW)
    assert kept.location is not None and kept.grid_code == GRID


@pytest.mark.parametrize(
    ("fields", "status", "needle"),
    [
        ({"service_code": None}, 400, "service_code was not provided"),
        ({"service_code": "no_such"}, 404, "not found"),
        ({"lat": None, "long": None}, 400, "location is required"),
        ({"long": None}, 400, "together"),
        ({"lat": "north"}, 400, "lat must be a number"),
        ({"long": 181}, 400, "between"),
        ({"lat": None, "long": None, "address_string": "人民路1号"}, 400, "address_string"),
        ({"lat": None, "long": None, "address_id": "12345"}, 400, "15 digits"),
        ({"attribute[occurred_at]": "2026-08-15T14:00:00"}, 400, "time zone"),
        ({"attribute[occurred_at]": "2026-08-16T00:00:00Z"}, 400, "future"),
        ({"attribute[colour]": "red"}, 400, "unknown attribute"),
        ({"attribute[crs]": "bd09"}, 400, "crs"),
        ({"phone": "call me"}, 400, "phone"),
        ({"description": "x" * 2001}, 400, "2000"),
    ],
)
def test_what_the_form_gets_wrong_is_named(
    district: District, fields: dict[str, Any], status: int, needle: str
) -> None:
    assert needle in refused(lambda: submission(form(**fields), district, NOW), status)


# -- GET requests: the arguments ---------------------------------------------------------------


def test_ids_override_the_other_filters(district: District) -> None:
    query = request_query(
        district, NOW, service_request_id="a, b,,c", service_code="no_such", limit="7"
    )
    assert (query.ids, query.categories, query.states, query.limit) == (
        ("a", "b", "c"),
        (),
        None,
        7,
    )
    assert query.start is None and query.end is None


def test_filters_and_the_default_window(district: District) -> None:
    query = request_query(district, NOW, service_code="garbage,noise", status="closed")
    assert query.categories == ("garbage", "noise")
    assert query.states == CLOSED_STATES
    assert (query.start, query.end) == (NOW - MAX_WINDOW, NOW)
    both = request_query(district, NOW, status="open,closed", start_date="2026-08-01T00:00:00Z")
    assert both.states == OPEN_STATES | CLOSED_STATES
    assert both.start == datetime(2026, 8, 1, tzinfo=UTC)
    assert both.end == both.start + MAX_WINDOW


@pytest.mark.parametrize(
    ("arguments", "needle"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"service_code": "garbage,no_such"}, "unknown service_code no_such"),
        ({"status": "pending"}, "status"),
        ({"start_date": "2026-08-10T00:00:00Z", "end_date": "2026-08-01T00:00:00Z"}, "after"),
        ({"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-08-01T00:00:00Z"}, "90 days"),
        ({"end_date": "yesterday"}, "ISO 8601"),
        ({"service_request_id": ",".join(["x"] * 201)}, "at most 50"),
    ],
)
def test_bad_arguments_are_400(district: District, arguments: dict[str, str], needle: str) -> None:
    assert needle in refused(lambda: request_query(district, NOW, **arguments))


# -- a case as a service request -----------------------------------------------------------------


def test_a_case_as_a_service_request(district: District) -> None:
    case = {
        "id": "990101001001-c1",
        "state": "dispatched",
        "category": "manhole_cover",
        "priority": "P2",
        "lead_department": "chengguan",
        "grid_code": GRID,
        "location": {"lat": 39.902, "lon": 116.383},
        "opened_at": NOW,
        "updated_at": NOW + timedelta(hours=1),
        "resolve_by": NOW + timedelta(days=1),
    }
    # Even a request filed through Open311 itself: its text stays out of public reads.
    request = service_request(
        {**case, "description": "井盖丢了，王五 13912345678", "source": OPEN311_SOURCE},
        district,
        ZoneInfo("Asia/Shanghai"),
    )
    assert request["service_request_id"] == "990101001001-c1"
    assert request["status"] == "open"
    assert request["service_name"] == "井盖破损缺失"
    assert request["agency_responsible"] == "区城市管理综合执法局"
    assert request["status_notes"].startswith("已派遣至区城市管理综合执法局")
    assert request["requested_datetime"] == "2026-08-15T14:30:00+08:00"
    assert request["expected_datetime"] == "2026-08-16T14:30:00+08:00"
    assert request["address"] == "东园社区第1网格, 东园社区, 示范街道"
    # public reads: a point no finer than ~100 m, no free text
    assert (request["lat"], request["long"]) == snap_point(39.902, 116.383)
    assert abs(request["lat"] - 39.902) < 0.001 and abs(request["long"] - 116.383) < 0.0012
    assert request["description"] is None
    rejected = service_request(
        {**case, "state": "rejected", "reason": "张三说不是问题", "description": "13912345678"},
        district,
        ZoneInfo("UTC"),
    )
    assert rejected["status_notes"] == "不予立案 (rejected)" and rejected["description"] is None

    merged = service_request(
        {**case, "state": "merged", "merged_into": "990101001001-c0", "closed_at": NOW},
        district,
        ZoneInfo("UTC"),
    )
    assert merged["status"] == "closed" and merged["expected_datetime"] is None
    assert "990101001001-c0" in merged["status_notes"]
    assert merged["updated_datetime"] == "2026-08-15T06:30:00+00:00"
