"""CloudEvents envelope: both Kafka modes, round-trips through the official SDK."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cloudevents.core.bindings import kafka as sdk_kafka
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from schemas.envelope import (
    REPORT_SUBMITTED,
    Envelope,
    EnvelopeError,
    decode_kafka,
    decode_structured_json,
    encode_binary,
    encode_structured,
)

WHEN = datetime(2026, 11, 26, 8, 30, tzinfo=UTC)


def sample(**extra: object) -> Envelope:
    return Envelope(
        id="r-1",
        source="urn:test",
        type=REPORT_SUBMITTED,
        time=WHEN,
        datacontenttype="application/json",
        data={"category": "garbage", "description": "垃圾满溢"},
        **extra,
    )


@pytest.mark.parametrize("encode", [encode_structured, encode_binary])
def test_our_encoding_round_trips(encode):
    value, headers = encode(sample(partitionkey="k1"))
    back = decode_kafka(value, headers, key=b"k1")
    assert back.id == "r-1"
    assert back.type == REPORT_SUBMITTED
    assert back.time == WHEN
    assert back.data == {"category": "garbage", "description": "垃圾满溢"}
    assert back.extensions["partitionkey"] == "k1"


@pytest.mark.parametrize("mode", ["structured", "binary"])
def test_sdk_produced_records_decode(mode):
    event = CloudEvent(
        {"id": "e-9", "source": "/citymgmt", "type": REPORT_SUBMITTED, "time": WHEN},
        {"category": "noise", "description": "噪音"},
    )
    convert = sdk_kafka.to_structured if mode == "structured" else sdk_kafka.to_binary
    message = convert(event, JSONFormat())
    back = decode_kafka(message.value, list(message.headers.items()), None)
    assert (back.id, back.source, back.data["category"]) == ("e-9", "/citymgmt", "noise")


def test_sdk_reads_our_structured_form():
    value, _ = encode_structured(sample())
    event = JSONFormat().read(None, value)
    assert event.get_id() == "r-1"
    assert event.get_data() == {"category": "garbage", "description": "垃圾满溢"}


@pytest.mark.parametrize(
    ("value", "headers", "needle"),
    [
        (b"{not json", [], "not a CloudEvent"),
        (b'{"specversion":"1.0","source":"s","type":"t"}', [], "id"),
        (b'{"specversion":"1.0","id":"1","type":"t"}', [], "source"),
        (None, [], "no value"),
        (b"{}", [("ce_specversion", b"1.0"), ("ce_id", b"1"), ("ce_source", b"s")], "type"),
    ],
)
def test_bad_records_name_the_problem(value, headers, needle):
    with pytest.raises(EnvelopeError) as caught:
        decode_kafka(value, headers)
    assert needle in caught.value.reason


def test_dedup_key_is_source_and_id():
    assert sample().dedup_key == Envelope(id="r-1", source="urn:test", type="x").dedup_key
    assert sample().dedup_key != Envelope(id="r-1", source="urn:other", type="x").dedup_key


def test_structured_json_text_decodes():
    value, _ = encode_structured(sample())
    assert decode_structured_json(value.decode()).id == "r-1"
