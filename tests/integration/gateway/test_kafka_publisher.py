"""The gateway's Kafka port against the real broker: a 202 means the event is on the topic."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.deps import GatewayDeps
from gateway.publisher import KafkaPublisher
from routing.district import District
from schemas.envelope import REPORT_SUBMITTED, decode_kafka
from schemas.topics import TopicNames
from sinks.db import make_engine, upgrade
from sinks.queries import CaseQueries
from sinks.tokens import TokenStore
from tests.support.gateway import report_body

pytestmark = pytest.mark.kafka


async def _read(bootstrap: str, topic: str, count: int) -> list[tuple[bytes | None, bytes, list]]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    try:
        records = []
        async with asyncio.timeout(30):
            while len(records) < count:
                record = await consumer.getone()
                records.append((record.key, record.value, list(record.headers)))
        return records
    finally:
        await consumer.stop()


async def test_publish_waits_for_the_broker(kafka_bootstrap: str, kafka_topics: TopicNames) -> None:
    publisher = KafkaPublisher(kafka_bootstrap, client_id="gateway-it")
    await publisher.start()
    try:
        await publisher.publish(kafka_topics.intake, b"k1", b"v1", [("h", b"x")])
    finally:
        await publisher.stop()
    assert await _read(kafka_bootstrap, kafka_topics.intake, 1) == [(b"k1", b"v1", [("h", b"x")])]


def test_accepted_report_is_on_the_intake_topic(
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

    [(key, value, headers)] = asyncio.run(_read(kafka_bootstrap, kafka_topics.intake, 1))
    assert key == report_id.encode()
    event = decode_kafka(value, headers, key)
    assert (event.type, event.id) == (REPORT_SUBMITTED, report_id)
    assert event.data["report_id"] == report_id
