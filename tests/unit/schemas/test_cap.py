"""CAP 1.2: the parsed subset, and the XML that is refused (DESIGN.md §8). The
samples are in ``cap_samples.py`` beside this module."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from schemas.cap import MAX_CAP_BYTES, CapError, parse_cap
from schemas.export import CONTRACTS, json_schema
from schemas.sources import CapAlert, CapArea
from tests.unit.schemas.cap_samples import (
    ALERT_XML,
    BILLION_LAUGHS_XML,
    CANCEL_XML,
    SENDER,
    SPANNING_POLYGON,
    UPDATE_XML,
    XXE_XML,
    edited,
)


def test_alert_is_parsed():
    alert = parse_cap(ALERT_XML)
    assert (alert.identifier, alert.sender) == ("YJ-2026-0815-001", SENDER)
    assert alert.sent == datetime(2026, 8, 15, 6, 30, tzinfo=UTC)
    assert (alert.status, alert.msg_type, alert.scope) == ("Actual", "Alert", "Public")
    assert alert.references == []
    assert [info.language for info in alert.info] == ["en-US", "zh-CN"]
    zh = alert.info[1]
    assert zh.categories == ["Met"]
    assert (zh.event, zh.urgency, zh.severity, zh.certainty) == (
        "暴雨预警",
        "Immediate",
        "Severe",
        "Observed",
    )
    assert zh.onset == datetime(2026, 8, 15, 15, 0, tzinfo=timezone(timedelta(hours=8)))
    assert zh.headline == "暴雨橙色预警"
    assert zh.sender_name is not None and "合成" in zh.sender_name
    (area,) = zh.areas
    assert area.area_desc == "示例区一街道、二街道"
    assert area.polygons == [
        [
            (39.903, 116.384),
            (39.903, 116.394),
            (39.907, 116.394),
            (39.907, 116.384),
            (39.903, 116.384),
        ]
    ]
    assert [(g.value_name, g.value) for g in area.geocodes] == [("GB/T 2260", "990101")]


def test_update_references_and_circle():
    alert = parse_cap(UPDATE_XML.encode("utf-8"))  # bytes work as well as str
    assert alert.msg_type == "Update"
    assert [(r.sender, r.identifier, r.sent) for r in alert.references] == [
        (SENDER, "YJ-2026-0815-001", "2026-08-15T14:30:00+08:00")
    ]
    (circle,) = alert.info[0].areas[0].circles
    assert (circle.lat, circle.lon, circle.radius_km) == (39.915, 116.413, 0.3)
    assert alert.info[0].categories == ["Met", "Safety"]


def test_cancel_with_several_references_and_a_note():
    alert = parse_cap(CANCEL_XML)
    assert alert.msg_type == "Cancel"
    assert alert.note == "降雨结束，解除暴雨预警"
    assert [r.identifier for r in alert.references] == ["YJ-2026-0815-001", "YJ-2026-0815-002"]


def test_alert_without_info_is_valid_cap():
    xml = ALERT_XML[: ALERT_XML.index("  <info>")] + "</alert>\n"
    assert parse_cap(xml).info == []


def test_model_round_trips_with_cap_names():
    alert = parse_cap(ALERT_XML)
    dumped = alert.model_dump(mode="json")
    assert dumped["msgType"] == "Alert"
    assert dumped["info"][1]["area"][0]["areaDesc"] == "示例区一街道、二街道"
    assert CapAlert.model_validate(dumped) == alert


@pytest.mark.parametrize(
    ("xml", "needle"),
    [
        (XXE_XML, "xml: DOCTYPE refused"),
        (BILLION_LAUGHS_XML, "xml: DOCTYPE refused"),
        ("<alert xmlns='urn:oasis:names:tc:emergency:cap:1.2'><identifier>", "not well-formed"),
        ("", "xml: empty document"),
        ("just text", "not well-formed"),
        (
            edited(ALERT_XML, "emergency:cap:1.2", "emergency:cap:1.1"),
            "namespace: 'urn:oasis:names:tc:emergency:cap:1.1' is not CAP 1.2",
        ),
        (
            edited(ALERT_XML, ' xmlns="urn:oasis:names:tc:emergency:cap:1.2"', ""),
            "namespace: '(none)' is not CAP 1.2",
        ),
        ("<feed xmlns='urn:oasis:names:tc:emergency:cap:1.2'/>", "root element must be"),
    ],
)
def test_unsafe_or_malformed_xml_is_refused(xml, needle):
    with pytest.raises(CapError) as caught:
        parse_cap(xml)
    assert needle in caught.value.reason


def test_external_entity_is_never_resolved():
    with pytest.raises(CapError) as caught:
        parse_cap(XXE_XML.encode())
    assert "root:" not in caught.value.reason  # nothing of /etc/passwd leaked


def test_oversized_document_is_refused_before_parsing():
    padding = "<!-- " + "x" * MAX_CAP_BYTES + " -->"
    with pytest.raises(CapError, match="bytes, more than"):
        parse_cap(ALERT_XML.replace("<scope>", padding + "<scope>"))


@pytest.mark.parametrize(
    ("old", "new", "needle"),
    [
        ("<status>Actual</status>", "<status>Real</status>", "status:"),
        ("<msgType>Alert</msgType>", "<msgType>Warning</msgType>", "msgType:"),
        ("<scope>Public</scope>", "", "scope: Field required"),
        ("<identifier>YJ-2026-0815-001", "<identifier>YJ 2026", "identifier:"),
        ("<sent>2026-08-15T14:30:00+08:00", "<sent>2026-08-15T14:30:00", "sent:"),
        ("<sent>2026-08-15T14:30:00+08:00", "<sent>yesterday", "sent:"),
        ("<severity>Moderate</severity>", "<severity>High</severity>", "info.0.severity"),
        ("<category>Met</category>", "<category>Weather</category>", "info.0.category.0"),
        ("<event>Rainstorm</event>", "", "info.0.event: Field required"),
        ("<identifier>YJ", "<identifier>A</identifier><identifier>YJ", "identifier: appears 2"),
        (
            f"<polygon>{SPANNING_POLYGON}</polygon>",
            "<polygon>39.903,116.384 39.903,116.394 39.907,116.394 39.907,116.384</polygon>",
            "info.0.area.0.polygons: Value error, polygon 0: not closed",
        ),
        (
            f"<polygon>{SPANNING_POLYGON}</polygon>",
            "<polygon>39.903,116.384 39.903,116.394 39.903,116.384</polygon>",
            "polygon 0: 3 points",
        ),
        (
            f"<polygon>{SPANNING_POLYGON}</polygon>",
            "<polygon>39.903;116.384 39.903,116.394</polygon>",
            "info.0.area.0.polygon.0: '39.903;116.384' is not a lat,lon pair",
        ),
        (
            f"<polygon>{SPANNING_POLYGON}</polygon>",
            "<polygon>99,116.384 39.903,116.394 39.907,116.394 99,116.384</polygon>",
            "is not a WGS84 lat,lon",
        ),
        (
            f"<polygon>{SPANNING_POLYGON}</polygon>",
            "<circle>39.915,116.413</circle>",
            "info.0.area.0.circle.0: '39.915,116.413' is not 'lat,lon radius_km'",
        ),
        (
            f"<polygon>{SPANNING_POLYGON}</polygon>",
            "<circle>39.915,116.413 -1</circle>",
            "info.0.area.0.circles.0.radius_km",
        ),
        (
            f"<polygon>{SPANNING_POLYGON}</polygon>",
            "<circle>nan,116.413 1</circle>",
            "not a finite lat,lon pair",
        ),
        (
            "<scope>Public</scope>",
            "<scope>Public</scope><references>only-two,parts</references>",
            "references: 'only-two,parts' is not sender,identifier,sent",
        ),
    ],
)
def test_bad_fields_are_named(old, new, needle):
    with pytest.raises(CapError) as caught:
        parse_cap(edited(ALERT_XML, old, new))
    assert needle in caught.value.reason


def test_model_refuses_unknown_fields_and_open_rings():
    with pytest.raises(ValidationError):
        CapArea.model_validate({"areaDesc": "x", "colour": "red"})
    with pytest.raises(ValidationError, match="not closed"):
        CapArea.model_validate({"areaDesc": "x", "polygons": [[[0, 0], [0, 1], [1, 1], [1, 0]]]})


def test_source_contracts_export_json_schema():
    assert CONTRACTS["cap-alert"] is CapAlert
    schema = json_schema("cap-alert")
    assert schema["$id"] == "/schemas/cap-alert.json"
    assert "msgType" in schema["properties"]
    for name in ("citymgmt-case", "sensor-alarm"):
        assert json_schema(name)["additionalProperties"] is False
