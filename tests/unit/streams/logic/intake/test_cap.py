"""CAP 1.2 alerts become reports the case agent can open, fold and cancel cases
from: the area placed on every grid it touches, Update and Cancel following their
references; a message the hub does not accept is refused with its reason."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from schemas.cases import Priority
from schemas.envelope import (
    CAP_ALERT,
    encode_binary,
    encode_structured,
)
from schemas.reports import Report
from streams.logic.intake import (
    IntakeError,
    KnownPlaces,
    derived_report_id,
    normalise,
    normalise_batch,
)
from streams.logic.intake.cap import cap_fold_key
from tests.support.cap_samples import (
    ALERT_XML,
    BILLION_LAUGHS_XML,
    CANCEL_XML,
    NO_AREA_INFO,
    REF_1,
    SENDER,
    UPDATE_XML,
    XXE_XML,
    edited,
    reference,
    references_only,
)
from tests.support.envelopes import (
    CAP_SOURCE,
    LATER,
    cap_envelope,
    refused,
    sensor,
    via_kafka,
)

SENT_1 = "2026-08-15T14:30:00+08:00"
SPANNED_GRIDS = [
    "990101001001001",
    "990101001001002",
    "990101001001003",
    "990101001001004",
    "990101002001001",
    "990101002001003",
]
CIRCLE_GRIDS = ["990101003002002", "990101003002003", "990101003002004"]


def test_cap_alert_normalises_over_several_grids(district):
    event = cap_envelope(ALERT_XML)
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
    assert attrs["fold_key"] == cap_fold_key(CAP_SOURCE, SENDER, "YJ-2026-0815-001")
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
    report = normalise(cap_envelope(UPDATE_XML), district, LATER)
    assert report.attributes["refers_to"] == [cap_fold_key(CAP_SOURCE, SENDER, "YJ-2026-0815-001")]
    assert report.attributes["fold_key"] == cap_fold_key(CAP_SOURCE, SENDER, "YJ-2026-0815-002")
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
    report = normalise(cap_envelope(CANCEL_XML), district, LATER)
    attrs = report.attributes
    assert attrs["cancel"] is True
    assert attrs["cancel_reason"] == "降雨结束，解除暴雨预警"
    assert attrs["refers_to"] == [
        cap_fold_key(CAP_SOURCE, SENDER, "YJ-2026-0815-001"),
        cap_fold_key(CAP_SOURCE, SENDER, "YJ-2026-0815-002"),
    ]
    assert attrs["grid_codes"] == sorted(SPANNED_GRIDS + CIRCLE_GRIDS)


def test_cap_cancel_reason_falls_back(district):
    no_note = edited(CANCEL_XML, "<note>降雨结束，解除暴雨预警</note>", "")
    report = normalise(cap_envelope(no_note), district, LATER)
    assert report.attributes["cancel_reason"] == "cancelled by sender"
    described = edited(no_note, "<urgency>Past", "<description>误报</description><urgency>Past")
    assert normalise(cap_envelope(described), district, LATER).attributes["cancel_reason"] == "误报"


def test_cap_geocode_grid_code_places_the_alert(district):
    xml = edited(
        UPDATE_XML,
        "<circle>39.915,116.413 0.3</circle>",
        "<geocode><valueName>grid</valueName><value>990101002002002</value></geocode>"
        "<geocode><valueName>FIPS6</valueName><value>006109</value></geocode>",
    )
    report = normalise(cap_envelope(xml), district, LATER)
    assert report.attributes["grid_codes"] == ["990101002002002"]
    assert report.grid_code == "990101002002002"
    assert report.location is None


def test_cap_area_outside_the_district_is_refused(district):
    far = "31.20,121.40 31.20,121.50 31.30,121.50 31.30,121.40 31.20,121.40"
    xml = edited(UPDATE_XML, "<circle>39.915,116.413 0.3</circle>", f"<polygon>{far}</polygon>")
    assert refused(cap_envelope(xml), district) == "data.area: outside every grid of this district"
    only_other_codes = edited(
        UPDATE_XML,
        "<circle>39.915,116.413 0.3</circle>",
        "<geocode><valueName>GB/T 2260</valueName><value>110101000000000</value></geocode>",
    )
    assert "outside every grid" in refused(cap_envelope(only_other_codes), district)


def test_cap_centroid_outside_the_area_falls_back_to_the_lowest_grid(district):
    # An L-shaped area whose centroid lies in a grid the area does not touch.
    ring = (
        "39.9005,116.3805 39.9005,116.4035 39.9040,116.4035 39.9040,116.3835 "
        "39.9170,116.3835 39.9170,116.3805 39.9005,116.3805"
    )
    xml = edited(UPDATE_XML, "<circle>39.915,116.413 0.3</circle>", f"<polygon>{ring}</polygon>")
    report = normalise(cap_envelope(xml), district, LATER)
    assert report.grid_code == report.attributes["grid_codes"][0] == "990101001001001"
    assert report.grid_code in report.attributes["grid_codes"]


@pytest.mark.parametrize("mode", [encode_structured, encode_binary])
def test_cap_arrives_in_either_kafka_mode(district, mode):
    event = cap_envelope(ALERT_XML)
    value, _ = mode(event)
    if mode is encode_binary:
        assert value.startswith(b"<?xml")  # the raw XML is the record value
    else:
        assert orjson.loads(value)["data"].startswith("<?xml")  # a JSON string
    report = normalise(via_kafka(event, mode), district, LATER)
    assert report == normalise(event, district, LATER)


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
    assert report.attributes["fold_key"] == cap_fold_key(CAP_SOURCE, SENDER, "YJ-2026-0815-001")


def test_cap_without_event_time_uses_the_record_time(district):
    report = normalise(cap_envelope(ALERT_XML, time=None), district, LATER)
    assert report.received_at == LATER


@pytest.mark.parametrize(
    ("event", "needle"),
    [
        (lambda: cap_envelope(XXE_XML), "data: xml: DOCTYPE refused"),
        (lambda: cap_envelope(BILLION_LAUGHS_XML), "data: xml: DOCTYPE refused"),
        (lambda: cap_envelope("<alert"), "data: xml: not well-formed"),
        (
            lambda: cap_envelope(edited(ALERT_XML, "cap:1.2", "cap:1.1")),
            "data: namespace: 'urn:oasis:names:tc:emergency:cap:1.1' is not CAP 1.2",
        ),
        (lambda: cap_envelope({"identifier": "x"}), "data: CAP 1.2 XML text is required"),
        (
            lambda: cap_envelope(ALERT_XML, datacontenttype="application/json"),
            "datacontenttype: 'application/json' is not CAP XML",
        ),
        (
            lambda: cap_envelope(edited(ALERT_XML, "<status>Actual", "<status>Exercise")),
            "data.status: only Actual alerts open cases, not Exercise",
        ),
        (
            lambda: cap_envelope(edited(ALERT_XML, "<msgType>Alert", "<msgType>Ack")),
            "data.msgType: an Ack message reports no incident",
        ),
        (
            lambda: cap_envelope(
                edited(
                    UPDATE_XML, f"<references>{SENDER},YJ-2026-0815-001,{SENT_1}</references>", ""
                )
            ),
            "data.references: required for msgType Update",
        ),
        (
            lambda: cap_envelope(edited(ALERT_XML, "<severity>Severe", "<severity>Red")),
            "data: info.1.severity:",
        ),
        (
            lambda: cap_envelope(ALERT_XML[: ALERT_XML.index("  <info>")] + "</alert>"),
            "data.area: the alert has no <info><area>",
        ),
    ],
)
def test_bad_cap_messages_are_refused_with_a_reason(district, event, needle):
    assert needle in refused(event(), district)


# --- an Update or Cancel that carries only its references ------------------------------

ALERT_KEY = cap_fold_key(CAP_SOURCE, SENDER, "YJ-2026-0815-001")
ALERT_GRID = "990101001001004"  # where ALERT_XML is placed


def test_a_bare_cancel_is_placed_where_the_alert_it_references_is(district):
    bare = cap_envelope(references_only("Cancel", "YJ-C1", REF_1, note="演练结束，解除预警"))
    report = normalise(bare, district, LATER, {ALERT_KEY: ALERT_GRID}.get)
    assert (report.grid_code, report.community_code) == (ALERT_GRID, ALERT_GRID[:12])
    assert report.location is None
    attrs = report.attributes
    assert attrs["refers_to"] == [ALERT_KEY]
    assert attrs["cancel"] is True and attrs["cancel_reason"] == "演练结束，解除预警"
    assert attrs["references_only"] is True
    assert attrs["fold_key"] == cap_fold_key(CAP_SOURCE, SENDER, "YJ-C1")
    assert report.description == "演练结束，解除预警"
    assert report.external_ref == "YJ-C1"


def test_a_bare_cancel_without_a_note_says_the_sender_cancelled(district):
    bare = cap_envelope(references_only("Cancel", "YJ-C2", REF_1))
    report = normalise(bare, district, LATER, {ALERT_KEY: ALERT_GRID}.get)
    assert report.attributes["cancel_reason"] == "cancelled by sender"
    assert report.description == "CAP Cancel: YJ-C2"


def test_an_update_with_an_info_but_no_area_follows_its_references(district):
    bare = cap_envelope(references_only("Update", "YJ-U1", REF_1, info=NO_AREA_INFO))
    report = normalise(bare, district, LATER, {ALERT_KEY: ALERT_GRID}.get)
    assert report.grid_code == ALERT_GRID
    assert report.category == "flooding"  # 暴雨, from its own <info>
    assert report.attributes["severity"] == "Extreme"
    assert "cancel" not in report.attributes
    assert report.description.startswith("暴雨红色预警\n雨势加强")


def test_the_first_referenced_alert_known_places_the_message(district):
    refs = f"{reference('YJ-UNKNOWN')} {REF_1}"
    bare = cap_envelope(references_only("Cancel", "YJ-C3", refs))
    report = normalise(bare, district, LATER, {ALERT_KEY: ALERT_GRID}.get)
    assert report.grid_code == ALERT_GRID
    assert report.attributes["refers_to"] == [
        cap_fold_key(CAP_SOURCE, SENDER, "YJ-UNKNOWN"),
        ALERT_KEY,
    ]


def test_a_bare_message_whose_alerts_are_unknown_is_refused_with_a_reason(district):
    bare = cap_envelope(references_only("Cancel", "YJ-C4", reference("YJ-404")))
    assert refused(bare, district, {}.get) == f"data.references: no alert known for {SENDER},YJ-404"
    assert refused(bare, district) == f"data.references: no alert known for {SENDER},YJ-404"
    elsewhere = {
        cap_fold_key(CAP_SOURCE, SENDER, "YJ-404"): "110105001001001"
    }  # not a grid of this district
    assert "no alert known" in refused(bare, district, elsewhere.get)


def test_a_batch_places_a_bare_cancel_behind_an_alert_of_the_same_batch(district):
    alert = cap_envelope(ALERT_XML)
    cancel = cap_envelope(references_only("Cancel", "YJ-C5", REF_1))
    orphan = cap_envelope(references_only("Cancel", "YJ-C6", reference("YJ-404")))
    places = KnownPlaces()
    opened, cancelled, refused_orphan = normalise_batch(
        [(alert, LATER), (cancel, LATER), (orphan, LATER)], district, places
    )
    assert isinstance(opened, Report) and isinstance(cancelled, Report)
    assert cancelled.grid_code == opened.grid_code == ALERT_GRID
    assert isinstance(refused_orphan, IntakeError)
    assert places(ALERT_KEY) == ALERT_GRID  # remembered for the batches to come
    later = normalise_batch([(cancel, LATER)], district, places)
    assert isinstance(later[0], Report) and later[0].grid_code == ALERT_GRID


def test_known_places_ask_the_index_first_and_stay_bounded(district):
    index = {ALERT_KEY: "990101002001001"}
    places = KnownPlaces(index.get, capacity=2)
    places.learn(normalise(cap_envelope(ALERT_XML), district, LATER))
    assert places(ALERT_KEY) == "990101002001001"  # the case's own grid wins
    for n in range(3):
        update = edited(UPDATE_XML, "YJ-2026-0815-002", f"YJ-U{n}")
        places.learn(normalise(cap_envelope(update), district, LATER))
    assert len(places) == 2
    assert places(cap_fold_key(CAP_SOURCE, SENDER, "YJ-U0")) is None
    assert places(cap_fold_key(CAP_SOURCE, SENDER, "YJ-U2")) == "990101003002004"
    places.learn(normalise(sensor(), district, LATER))  # not CAP: not remembered
    assert len(places) == 2
