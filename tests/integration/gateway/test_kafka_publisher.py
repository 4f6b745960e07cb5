"""The gateway's Kafka port against the real broker: a 202 means the event is on the
topic; a batch lands whole, each record where a single send would have put it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.deps import GatewayDeps
from gateway.publisher import KafkaPublisher, OutgoingRecord, PublishError
from routing.district import District
from schemas.envelope import REPORT_SUBMITTED
from schemas.reports import Report
from schemas.topics import TopicNames
from sinks.db import make_engine, upgrade
from sinks.queries import CaseQueries
from sinks.tokens import TokenStore
from tests.support.gateway import report_body

pytestmark = pytest.mark.kafka


async def _read_records(bootstrap: str, topic: str, count: int) -> list:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    try:
        records = []
        async with asyncio.timeout(30):
            while len(records) < count:
                records.append(await consumer.getone())
        return records
    finally:
        await consumer.stop()


async def _read(bootstrap: str, topic: str, count: int) -> list[tuple[bytes | None, bytes, list]]:
    records = await _read_records(bootstrap, topic, count)
    return [(r.key, r.value, list(r.headers)) for r in records]


async def test_publish_waits_for_the_broker(kafka_bootstrap: str, kafka_topics: TopicNames) -> None:
    publisher = KafkaPublisher(kafka_bootstrap, client_id="gateway-it")
    await publisher.start()
    try:
        await publisher.publish(kafka_topics.intake, b"k1", b"v1", [("h", b"x")])
    finally:
        await publisher.stop()
    assert await _read(kafka_bootstrap, kafka_topics.intake, 1) == [(b"k1", b"v1", [("h", b"x")])]


async def test_a_batch_lands_whole_where_single_sends_would_put_it(
    kafka_bootstrap: str, kafka_topics: TopicNames
) -> None:
    keys = [f"source-{n % 7}".encode() for n in range(300)]
    batch = [
        OutgoingRecord(kafka_topics.intake, key, b"v%d" % n + b"x" * 600, [("n", b"%d" % n)])
        for n, key in enumerate(keys)
    ]
    publisher = KafkaPublisher(kafka_bootstrap, client_id="gateway-it")
    await publisher.start()
    try:
        assert await publisher.publish_many(batch) == [None] * len(batch)
        for key in set(keys):  # one single send per key, to another topic
            await publisher.publish(kafka_topics.alerts, key, b"single", [])
    finally:
        await publisher.stop()
    landed = await _read_records(kafka_bootstrap, kafka_topics.intake, len(batch))
    singles = await _read_records(kafka_bootstrap, kafka_topics.alerts, len(set(keys)))
    partition_of = {r.key: r.partition for r in singles}
    assert len({r.partition for r in landed}) > 1
    assert all(r.partition == partition_of[r.key] for r in landed)
    by_key: dict[bytes, list[int]] = {}
    for r in sorted(landed, key=lambda r: (r.partition, r.offset)):
        by_key.setdefault(r.key, []).append(int(dict(r.headers)["n"]))
    assert all(numbers == sorted(numbers) for numbers in by_key.values())  # order per key
    assert sorted(n for numbers in by_key.values() for n in numbers) == list(range(len(batch)))


async def test_a_batch_the_broker_cannot_take_is_refused_per_record(
    kafka_topics: TopicNames,
) -> None:
    publisher = KafkaPublisher("127.0.0.1:1", client_id="gateway-it", request_timeout_ms=1000)
    with pytest.raises(PublishError):
        await publisher.start()
    record = OutgoingRecord(kafka_topics.intake, b"k", b"v", [])
    outcomes = await publisher.publish_many([record, record])
    assert [type(outcome) for outcome in outcomes] == [PublishError, PublishError]


def test_accepted_report_is_on_the_reports_topic_keyed_by_community(
    kafka_bootstrap: str, kafka_topics: TopicNames, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'gw.db'}"
    upgrade(url)
    engine = make_engine(url)
    tokens = TokenStore(engine, secret="it-secret")
    plaintext, _ = tokens.create("grid_worker", "it-worker")
    deps = GatewayDeps(
        queries=CaseQueries(engine),
        tokens=tokens,
        district=District.load(),
        publisher=KafkaPublisher(kafka_bootstrap, client_id="gateway-it"),
        topics=kafka_topics,
    )
    with TestClient(create_app(deps)) as client:
        response = client.post(
            "/api/v1/reports",
            json=report_body(),
            headers={"Authorization": f"Bearer {plaintext}", "Idempotency-Key": "it-1"},
        )
    engine.dispose()
    assert response.status_code == 202, response.text
    report_id = response.json()["report_id"]

    [(key, value, _)] = asyncio.run(_read(kafka_bootstrap, kafka_topics.reports, 1))
    report = Report.model_validate_json(value)
    assert key == report.community_code.encode()
    assert (report.source_type, report.id) == (REPORT_SUBMITTED, report_id)
