"""A report CloudEvent on the real broker becomes one case row, through a real
``gridhub worker`` process; repeats change nothing; bad records go to the DLQ."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import orjson
import pytest
from kafka import KafkaConsumer, KafkaProducer

from schemas.envelope import REPORT_SUBMITTED, Envelope, encode_binary, encode_structured
from sinks.db import make_engine, upgrade
from sinks.queries import CaseQueries
from tests.fixtures.worker import wait_until

pytestmark = [pytest.mark.kafka]

GRID = "990101001001001"


def report_event(report_id: str, category: str = "manhole_cover", **data: object) -> Envelope:
    body = {
        "category": category,
        "description": "井盖缺失 manhole cover missing",
        "grid_code": GRID,
        "report_id": report_id,
        **data,
    }
    return Envelope(
        id=report_id,
        source="urn:test:phone",
        type=REPORT_SUBMITTED,
        time=datetime(2026, 11, 26, 9, 0, tzinfo=UTC),
        datacontenttype="application/json",
        data=body,
    )


def dlq_records(bootstrap: str, topic: str, expected: int) -> list[dict[str, bytes]]:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=2000,
        group_id=None,
    )
    found: list[dict[str, bytes]] = []

    def poll() -> bool:
        for record in consumer:
            found.append({k: v for k, v in record.headers} | {"value": record.value})
        return len(found) >= expected

    try:
        wait_until(poll, 60, f"{expected} DLQ records")
    finally:
        consumer.close()
    return found


def test_report_event_becomes_one_case_and_bad_records_dead_letter(
    hub_env, running, db_url, kafka_bootstrap
):
    env = hub_env(db_url)
    upgrade(db_url)
    running.append(env.spawn("worker"))
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    first, second = str(uuid.uuid4()), str(uuid.uuid4())

    value, headers = encode_structured(report_event(first))
    for _ in range(3):  # a phone retrying: the same report three times
        producer.send(env.topics.intake, key=first.encode(), value=value, headers=headers)
    producer.send(env.topics.intake, value=b"{not json", headers=[("content-type", b"x")])
    bad_value, bad_headers = encode_structured(report_event(str(uuid.uuid4()), category="nope"))
    producer.send(env.topics.intake, value=bad_value, headers=bad_headers)
    value, headers = encode_binary(report_event(second, category="gas_smell"))
    producer.send(env.topics.intake, key=second.encode(), value=value, headers=headers)
    # Same key as the repeats, so it is processed after them on every hop: once
    # its case exists, the repeats have certainly been seen.
    sentinel = str(uuid.uuid4())
    value, headers = encode_structured(report_event(sentinel, category="garbage"))
    producer.send(env.topics.intake, key=first.encode(), value=value, headers=headers)
    producer.flush()
    producer.close()

    queries = CaseQueries(make_engine(db_url))
    cases = wait_until(
        lambda: (lambda rows: rows if rows[1] >= 3 else None)(queries.list_cases(limit=10)),
        90,
        "three cases in the database",
    )[0]
    by_category = {case["category"]: case for case in cases}
    assert set(by_category) == {"manhole_cover", "gas_smell", "garbage"}
    manhole = queries.get_case(by_category["manhole_cover"]["id"], include_personal=True)
    assert manhole is not None
    assert manhole["report_count"] == 1
    assert [r["id"] for r in manhole["reports"]] == [first]
    assert [t["type"] for t in manhole["timeline"]][0] == "opened"
    assert manhole["id"].startswith(GRID[:12])

    dead = dlq_records(kafka_bootstrap, env.topics.intake_dlq, expected=2)
    reasons = sorted(rec["gridhub-error"].decode() for rec in dead)
    assert any("not a CloudEvent" in r for r in reasons), reasons
    assert any("data.category" in r and "nope" in r for r in reasons), reasons
    assert {rec["value"] for rec in dead} >= {b"{not json"}

    rows, total = queries.list_cases(limit=10)
    assert total == 3
    assert all(case["version"] >= 1 for case in rows)
    assert orjson.loads(orjson.dumps(rows))  # JSON-serialisable shape
