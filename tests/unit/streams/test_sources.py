"""Collect from the other sources: 数字城管 cases, IoT sensor alarms and CAP 1.2
alerts become Reports the case agent can open, fold and cancel cases from."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from routing.geo import wgs84_to_gcj02
from schemas.cases import Priority
from schemas.envelope import (
    CAP_ALERT,
    CITYMGMT_CASE,
    REPORT_SUBMITTED,
    SENSOR_ALARM,
    Envelope,
    decode_kafka,
    encode_binary,
    encode_structured,
)
from streams.logic import intake
from streams.logic.intake import REPORT_ID_NAMESPACE, IntakeError, derived_report_id, normalise
from streams.logic.intake.common import IntakeError as CommonIntakeError
from tests.support.cap_samples import (
    ALERT_XML,
    BILLION_LAUGHS_XML,
    CANCEL_XML,
    SENDER,
    UPDATE_XML,
    XXE_XML,
    edited,
)
from tests.unit.streams.conftest import WHEN

LATER = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
SENT_1 = "2026-08-15T14:30:00+08:00"

CITYMGMT_DATA: dict[str, Any] = {
    "case_number": "CG20261126000123",
    "category_code": "0103",
    "kind": "component",
    "description": "雨水井盖破损，车辆碾压有异响",
    "location": {"lat": 39.902, "lon": 116.383},
    "occurred_at": "2026-11-26T08:40:00+08:00",
    "reporter": {"name": "监督员 张三"},
    "status": "立案",
}

SENSOR_DATA: dict[str, Any] = {
    "device_id": "gas-0042",
    "metric": "gas_ppm",
    "reading": 1250.0,
    "threshold": 1000.0,
    "unit": "ppm",
    "grid_code": "990101002001003",
    "occurred_at": "2026-11-26T08:59:30Z",
}

SPANNED_GRIDS = [
    "990101001001001",
    "990101001001002",
    "990101001001003",
    "990101001001004",
    "990101002001001",
    "990101002001003",
]
CIRCLE_GRIDS = ["990101003002002", "990101003002003", "990101003002004"]


def envelope(event_type: str, data: Any, **attrs: Any) -> Envelope:
    fields: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "source": "urn:test:source",
        "type": event_type,
        "time": WHEN,
        "datacontenttype": "application/json",
        "data": data,
    }
    fields.update(attrs)
    return Envelope(**fields)


def citymgmt(**changes: Any) -> Envelope:
    data = {**CITYMGMT_DATA, **changes}
    return envelope(
        CITYMGMT_CASE,
        {k: v for k, v in data.items() if v is not None},
        source="urn:gridhub:citymgmt",
    )


def sensor(**changes: Any) -> Envelope:
    data = {**SENSOR_DATA, **changes}
    return envelope(
        SENSOR_ALARM, {k: v for k, v in data.items() if v is not None}, source="urn:iot:gas"
    )


def cap(xml: str, **attrs: Any) -> Envelope:
    fields: dict[str, Any] = {"datacontenttype": "application/cap+xml", "source": "urn:cap:yingji"}
    fields.update(attrs)
    return envelope(CAP_ALERT, xml, **fields)


def refused(event: Envelope, district) -> str:
    with pytest.raises(IntakeError) as caught:
        normalise(event, district, LATER)
    return caught.value.reason


def via_kafka(event: Envelope, mode) -> Envelope:
    value, headers = mode(event)
    return decode_kafka(value, headers)


# --- shared vocabulary ---------------------------------------------------------------


def test_every_inbound_type_has_its_source_module():
    assert IntakeError is CommonIntakeError
    assert set(intake.SOURCE_NORMALISERS) == {
        REPORT_SUBMITTED,
        CITYMGMT_CASE,
        SENSOR_ALARM,
        CAP_ALERT,
    }


# --- 数字城管 ----------------------------------------------------------------------


def test_citymgmt_case_normalises(district):
    report = normalise(citymgmt(), district, LATER)
    assert report.category == "manhole_cover"
    assert report.id == str(uuid.uuid5(REPORT_ID_NAMESPACE, "citymgmt:CG20261126000123"))
    assert report.external_ref == "CG20261126000123"
    assert report.grid_code == "990101001001001"
    assert report.source_type == CITYMGMT_CASE
    assert report.occurred_at == datetime(2026, 11, 26, 0, 40, tzinfo=UTC)
    assert report.received_at == WHEN
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


# --- sensors --------------------------------------------------------------------------


def test_sensor_alarm_normalises(district):
    event = sensor()
    report = normalise(event, district, LATER)
    assert report.category == "gas_smell"
    assert report.id == derived_report_id(event)
    assert report.grid_code == "990101002001003"
    assert report.external_ref is None
    assert report.attributes == {
        "fold_key": "sensor:gas-0042",
        "device_id": "gas-0042",
        "metric": "gas_ppm",
        "reading": 1250.0,
        "threshold": 1000.0,
        "unit": "ppm",
        "above_threshold": True,
    }
    assert report.description == "可燃气体浓度超限：1250 ppm（阈值 1000 ppm）"
    orjson.dumps(report.attributes)


def test_sensor_alarms_of_one_device_share_a_fold_key(district):
    first = normalise(sensor(), district, LATER)
    second = normalise(sensor(reading=1500.0), district, LATER)
    assert first.id != second.id
    assert first.attributes["fold_key"] == second.attributes["fold_key"]


def test_sensor_below_threshold_is_kept_and_flagged(district):
    report = normalise(
        sensor(metric="water_level_cm", reading=12, threshold=20, unit="cm", message="水位异常"),
        district,
        LATER,
    )
    assert report.category == "flooding"
    assert report.attributes["above_threshold"] is False
    assert report.description == "水位异常"


def test_sensor_source_raises_priority(district):
    # The device id stays out of the text: "gas-0042" must not read as the keyword gas.
    report = normalise(sensor(metric="manhole_tilt", unit="deg"), district, LATER)
    assert report.description == "井盖倾斜位移：1250 deg（阈值 1000 deg）"
    category = district.category(report.category)
    priority, _ = district.assess_priority(
        category, report.description, 1, report.source_type, report.attributes
    )
    assert category.default_priority is Priority.P2 and priority is Priority.P2


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"metric": "radiation_usv"}, "data.metric: unknown metric 'radiation_usv'"),
        ({"metric": "Gas PPM"}, "data.metric: String should match"),
        ({"reading": "high"}, "data.reading:"),
        ({"threshold": None}, "data.threshold: Field required"),
        ({"device_id": ""}, "data.device_id:"),
        ({"unit": "x" * 17}, "data.unit:"),
        ({"grid_code": None}, "location or grid_code is required"),
        ({"grid_code": "123"}, "data.grid_code:"),
    ],
)
def test_bad_sensor_alarms_name_the_field(district, changes, needle):
    assert needle in refused(sensor(**changes), district)


def test_non_object_data_is_refused(district):
    assert refused(envelope(SENSOR_ALARM, "gas!"), district) == "data: a JSON object is required"
    assert "JSON object" in refused(envelope(CITYMGMT_CASE, [1, 2]), district)


# --- CAP ------------------------------------------------------------------------------


def test_cap_alert_normalises_over_several_grids(district):
    event = cap(ALERT_XML)
    report = normalise(event, district, LATER)
    assert report.id == derived_report_id(event)
    assert report.external_ref == "YJ-2026-0815-001"
    assert report.category == "flooding"  # 暴雨 (the zh info is the primary one)
    assert report.attributes["grid_codes"] == SPANNED_GRIDS
    assert report.grid_code == "990101001001004"  # holds the centroid 39.905,116.389
    assert report.location is not None
    assert (round(report.location.lat, 6), round(report.location.lon, 6)) == (39.905, 116.389)
    assert report.description.startswith("暴雨橙色预警\n预计未来3小时内")
    assert report.occurred_at == datetime(2026, 8, 15, 7, 0, tzinfo=UTC)  # the onset
    attrs = report.attributes
    assert attrs["fold_key"] == f"cap:{SENDER}:YJ-2026-0815-001"
    assert (attrs["severity"], attrs["urgency"], attrs["certainty"]) == (
        "Severe",
        "Immediate",
        "Observed",
    )
    assert attrs["cap_msg_type"] == "Alert"
    assert attrs["cap_expires"] == "2026-08-15T22:00:00+08:00"
    assert "refers_to" not in attrs and "cancel" not in attrs
    orjson.dumps(attrs)


def test_cap_update_refers_to_the_alert_and_covers_a_circle(district):
    report = normalise(cap(UPDATE_XML), district, LATER)
    assert report.attributes["refers_to"] == [f"cap:{SENDER}:YJ-2026-0815-001"]
    assert report.attributes["fold_key"] == f"cap:{SENDER}:YJ-2026-0815-002"
    # 300 m around 39.915,116.413 reaches three grids, not the diagonal neighbour 003002001.
    assert report.attributes["grid_codes"] == CIRCLE_GRIDS
    assert report.grid_code == "990101003002004"
    assert report.attributes["severity"] == "Extreme"
    assert report.attributes["cap_categories"] == ["Met", "Safety"]
    category = district.category(report.category)
    priority, reasons = district.assess_priority(
        category, report.description, 1, report.source_type, report.attributes
    )
    assert priority is Priority.P1 and any("CAP severity Extreme" in r for r in reasons)


def test_cap_cancel_names_every_referenced_alert(district):
    report = normalise(cap(CANCEL_XML), district, LATER)
    attrs = report.attributes
    assert attrs["cancel"] is True
    assert attrs["cancel_reason"] == "降雨结束，解除暴雨预警"
    assert attrs["refers_to"] == [
        f"cap:{SENDER}:YJ-2026-0815-001",
        f"cap:{SENDER}:YJ-2026-0815-002",
    ]
    assert attrs["grid_codes"] == sorted(SPANNED_GRIDS + CIRCLE_GRIDS)


def test_cap_cancel_reason_falls_back(district):
    no_note = edited(CANCEL_XML, "<note>降雨结束，解除暴雨预警</note>", "")
    report = normalise(cap(no_note), district, LATER)
    assert report.attributes["cancel_reason"] == "cancelled by sender"
    described = edited(no_note, "<urgency>Past", "<description>误报</description><urgency>Past")
    assert normalise(cap(described), district, LATER).attributes["cancel_reason"] == "误报"


def test_cap_geocode_grid_code_places_the_alert(district):
    xml = edited(
        UPDATE_XML,
        "<circle>39.915,116.413 0.3</circle>",
        "<geocode><valueName>grid</valueName><value>990101002002002</value></geocode>"
        "<geocode><valueName>FIPS6</valueName><value>006109</value></geocode>",
    )
    report = normalise(cap(xml), district, LATER)
    assert report.attributes["grid_codes"] == ["990101002002002"]
    assert report.grid_code == "990101002002002"
    assert report.location is None


def test_cap_area_outside_the_district_is_refused(district):
    far = "31.20,121.40 31.20,121.50 31.30,121.50 31.30,121.40 31.20,121.40"
    xml = edited(UPDATE_XML, "<circle>39.915,116.413 0.3</circle>", f"<polygon>{far}</polygon>")
    assert refused(cap(xml), district) == "data.area: outside every grid of this district"
    only_other_codes = edited(
        UPDATE_XML,
        "<circle>39.915,116.413 0.3</circle>",
        "<geocode><valueName>GB/T 2260</valueName><value>110101000000000</value></geocode>",
    )
    assert "outside every grid" in refused(cap(only_other_codes), district)


def test_cap_centroid_outside_the_area_falls_back_to_the_lowest_grid(district):
    # An L-shaped area whose centroid lies in a grid the area does not touch.
    ring = (
        "39.9005,116.3805 39.9005,116.4035 39.9040,116.4035 39.9040,116.3835 "
        "39.9170,116.3835 39.9170,116.3805 39.9005,116.3805"
    )
    xml = edited(UPDATE_XML, "<circle>39.915,116.413 0.3</circle>", f"<polygon>{ring}</polygon>")
    report = normalise(cap(xml), district, LATER)
    assert report.grid_code == report.attributes["grid_codes"][0] == "990101001001001"
    assert report.grid_code in report.attributes["grid_codes"]


@pytest.mark.parametrize("mode", [encode_structured, encode_binary])
def test_cap_arrives_in_either_kafka_mode(district, mode):
    event = cap(ALERT_XML)
    value, _ = mode(event)
    if mode is encode_binary:
        assert value.startswith(b"<?xml")  # the raw XML is the record value
    else:
        assert orjson.loads(value)["data"].startswith("<?xml")  # a JSON string
    report = normalise(via_kafka(event, mode), district, LATER)
    assert report == normalise(event, district, LATER)


@pytest.mark.parametrize("mode", [encode_structured, encode_binary])
def test_json_sources_arrive_in_either_kafka_mode(district, mode):
    for event in (citymgmt(), sensor()):
        assert normalise(via_kafka(event, mode), district, LATER) == normalise(
            event, district, LATER
        )


def test_cap_structured_with_data_base64(district):
    import base64

    from schemas.envelope import decode_structured_json

    body = {
        "specversion": "1.0",
        "id": "cap-1",
        "source": "urn:cap:yingji",
        "type": CAP_ALERT,
        "datacontenttype": "application/cap+xml",
        "data_base64": base64.b64encode(ALERT_XML.encode()).decode(),
    }
    report = normalise(decode_structured_json(orjson.dumps(body)), district, LATER)
    assert report.attributes["fold_key"] == f"cap:{SENDER}:YJ-2026-0815-001"


def test_cap_without_event_time_uses_the_record_time(district):
    report = normalise(cap(ALERT_XML, time=None), district, LATER)
    assert report.received_at == LATER


@pytest.mark.parametrize(
    ("event", "needle"),
    [
        (lambda: cap(XXE_XML), "data: xml: DOCTYPE refused"),
        (lambda: cap(BILLION_LAUGHS_XML), "data: xml: DOCTYPE refused"),
        (lambda: cap("<alert"), "data: xml: not well-formed"),
        (
            lambda: cap(edited(ALERT_XML, "cap:1.2", "cap:1.1")),
            "data: namespace: 'urn:oasis:names:tc:emergency:cap:1.1' is not CAP 1.2",
        ),
        (lambda: cap({"identifier": "x"}), "data: CAP 1.2 XML text is required"),
        (
            lambda: cap(ALERT_XML, datacontenttype="application/json"),
            "datacontenttype: 'application/json' is not CAP XML",
        ),
        (
            lambda: cap(edited(ALERT_XML, "<status>Actual", "<status>Exercise")),
            "data.status: only Actual alerts open cases, not Exercise",
        ),
        (
            lambda: cap(edited(ALERT_XML, "<msgType>Alert", "<msgType>Ack")),
            "data.msgType: an Ack message reports no incident",
        ),
        (
            lambda: cap(
                edited(
                    UPDATE_XML, f"<references>{SENDER},YJ-2026-0815-001,{SENT_1}</references>", ""
                )
            ),
            "data.references: required for msgType Update",
        ),
        (
            lambda: cap(edited(ALERT_XML, "<severity>Severe", "<severity>Red")),
            "data: info.1.severity:",
        ),
        (
            lambda: cap(ALERT_XML[: ALERT_XML.index("  <info>")] + "</alert>"),
            "data.area: the alert has no <info><area>",
        ),
    ],
)
def test_bad_cap_messages_are_refused_with_a_reason(district, event, needle):
    assert needle in refused(event(), district)


def test_unknown_types_are_still_refused(district):
    assert "unsupported event type" in refused(envelope("org.example.other", {}), district)
