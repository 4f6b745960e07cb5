"""The publisher SDK (gridhub.client) and ``gridhub publish`` on the real broker: both
modes, delivery confirmation, keys; records read back by our codec and by the
official SDK."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from cloudevents.core.bindings import kafka as sdk_kafka
from cloudevents.core.formats.json import JSONFormat
from kafka import KafkaConsumer

from gridhub.cli.publish import publish as publish_command
from gridhub.client import (
    Publisher,
    PublishError,
    derived_id,
    make_event,
)
from schemas.envelope import (
    CAP_ALERT,
    REPORT_SUBMITTED,
    SENSOR_ALARM,
    EnvelopeError,
    decode_kafka,
)
from schemas.topics import TopicNames
from tests.support.cap_samples import ALERT_XML

pytestmark = pytest.mark.kafka

SOURCE = "urn:iot:gas-network"


def alarm(n: int) -> dict[str, Any]:
    return {
        "device_id": f"gas-{n:04d}",
        "metric": "gas_ppm",
        "reading": 100 + n,
        "threshold": 50,
        "unit": "ppm",
        "grid_code": "990101001001001",
        "occurred_at": "2026-08-15T14:30:00+08:00",
    }


def read(bootstrap: str, topic: str, count: int) -> list[Any]:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
        consumer_timeout_ms=1000,
    )
    records: list[Any] = []
    deadline = time.monotonic() + 30
    try:
        while len(records) < count and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
    finally:
        consumer.close()
    assert len(records) == count, f"read {len(records)} of {count}"
    return sorted(records, key=lambda r: (r.partition, r.offset))


@pytest.mark.parametrize("mode", ["structured", "binary"])
def test_publish_many_confirms_and_records_decode_both_ways(
    kafka_bootstrap: str, kafka_topics: TopicNames, mode: Any
) -> None:
    events = [make_event(SENSOR_ALARM, SOURCE, alarm(n), id=f"a-{n}") for n in range(5)]
    events.append(make_event(SENSOR_ALARM, SOURCE, alarm(9), id="a-9", partitionkey="990101001"))
    with Publisher(kafka_bootstrap, topic=kafka_topics.intake, mode=mode, linger_ms=20) as pub:
        delivered = pub.publish_many(events)

    assert [m.topic for m in delivered] == [kafka_topics.intake] * 6
    assert all(m.offset >= 0 for m in delivered)
    records = read(kafka_bootstrap, kafka_topics.intake, 6)
    assert {(r.partition, r.offset) for r in records} == {
        (m.partition, m.offset) for m in delivered
    }
    by_id = {}
    for record in records:
        event = decode_kafka(record.value, record.headers, record.key)
        by_id[event.id] = (record, event)
        headers = dict(record.headers)
        if mode == "binary":
            assert headers["ce_id"] == event.id.encode()
        else:
            assert headers["content-type"] == b"application/cloudevents+json"
        # The official SDK reads the same records.
        message = sdk_kafka.KafkaMessage(headers=headers, key=record.key, value=record.value)
        sdk_event = sdk_kafka.from_kafka(message, JSONFormat())
        assert (sdk_event.get_id(), sdk_event.get_source()) == (event.id, SOURCE)
        assert sdk_event.get_data() == event.data
    assert by_id["a-0"][0].key == SOURCE.encode()
    assert by_id["a-9"][0].key == b"990101001"
    assert by_id["a-3"][1].data == alarm(3)


def test_publish_returns_a_future_and_flush_waits(
    kafka_bootstrap: str, kafka_topics: TopicNames
) -> None:
    publisher = Publisher(kafka_bootstrap, topic=kafka_topics.intake, linger_ms=50)
    try:
        future = publisher.publish(
            {
                "specversion": "1.0",
                "id": "dict-1",
                "source": SOURCE,
                "type": REPORT_SUBMITTED,
                "data": {
                    "category": "garbage",
                    "description": "垃圾",
                    "grid_code": "990101001001001",
                },
            }
        )
        publisher.flush()
        assert future.is_done
        metadata = future.get(timeout=10)
        assert metadata.topic == kafka_topics.intake
    finally:
        publisher.close()
    [record] = read(kafka_bootstrap, kafka_topics.intake, 1)
    assert decode_kafka(record.value, record.headers).id == "dict-1"


def test_invalid_events_are_refused_before_sending(
    kafka_bootstrap: str, kafka_topics: TopicNames
) -> None:
    with Publisher(kafka_bootstrap, topic=kafka_topics.intake) as publisher:
        with pytest.raises(EnvelopeError, match="id"):
            publisher.publish({"specversion": "1.0", "source": SOURCE, "type": SENSOR_ALARM})
        with pytest.raises(EnvelopeError, match="inbound type"):
            publisher.publish_many(
                [
                    make_event(SENSOR_ALARM, SOURCE, alarm(1)),
                    make_event("com.example.other", SOURCE, {}),
                ]
            )
    # Nothing of the refused batch was sent.
    consumer = KafkaConsumer(
        kafka_topics.intake,
        bootstrap_servers=kafka_bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
        consumer_timeout_ms=2000,
    )
    try:
        assert list(consumer) == []
    finally:
        consumer.close()


def test_no_broker_is_a_clear_error() -> None:
    with pytest.raises(PublishError, match="cannot reach Kafka at 127.0.0.1:1"):
        Publisher("127.0.0.1:1", bootstrap_timeout_ms=500)


def test_cli_publishes_stdin_lines_and_files(
    kafka_bootstrap: str, kafka_topics: TopicNames, tmp_path: Path
) -> None:
    runner = CliRunner()
    common = ["--bootstrap", kafka_bootstrap, "--topic", kafka_topics.intake]
    lines = "\n".join(orjson.dumps(alarm(n)).decode() for n in range(3)) + "\n\n"
    result = runner.invoke(
        publish_command,
        ["--type", SENSOR_ALARM, "--source", SOURCE, "--mode", "binary", *common],
        input=lines,
    )
    assert result.exit_code == 0, result.output
    out = result.output.strip().splitlines()
    assert out[-1] == "published 3 event(s) (binary mode)"
    ids = []
    for line in out[:-1]:
        event_id, topic, partition, offset = line.split("\t")
        assert topic == kafka_topics.intake and int(partition) >= 0 and int(offset) >= 0
        ids.append(event_id)
    assert ids == [derived_id(SENSOR_ALARM, SOURCE, alarm(n)) for n in range(3)]

    cap = tmp_path / "alert.xml"
    cap.write_text(ALERT_XML, encoding="utf-8")
    result = runner.invoke(
        publish_command,
        ["--type", CAP_ALERT, "--source", "urn:yingji", "--data", f"@{cap}", *common],
    )
    assert result.exit_code == 0, result.output
    records = read(kafka_bootstrap, kafka_topics.intake, 4)
    events = [decode_kafka(r.value, r.headers) for r in records]
    cap_event = next(e for e in events if e.type == CAP_ALERT)
    assert cap_event.data == ALERT_XML
    assert cap_event.datacontenttype == "application/cap+xml"


def test_cli_usage_errors(kafka_bootstrap: str) -> None:
    runner = CliRunner()
    bad_json = runner.invoke(
        publish_command,
        ["--type", SENSOR_ALARM, "--source", SOURCE, "--bootstrap", kafka_bootstrap],
        input="{not json}\n",
    )
    assert bad_json.exit_code == 2 and "stdin line 1" in bad_json.output
    cap_stdin = runner.invoke(
        publish_command, ["--type", CAP_ALERT, "--source", SOURCE], input=ALERT_XML
    )
    assert cap_stdin.exit_code == 2 and "@alert.xml" in cap_stdin.output
