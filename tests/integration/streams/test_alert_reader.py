"""The daily brief reads the day's alerts back from the alerts topic by record time."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from kafka import KafkaProducer

from schemas.alerts import Alert, AlertKind
from streams.agents.brief_agent import read_alerts
from streams.codecs import encode_alert

pytestmark = [pytest.mark.kafka]

H = timedelta(hours=1)


def test_read_alerts_by_time_across_partitions(kafka_bootstrap, kafka_topics):
    now = datetime.now(UTC)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    for i in range(6):  # spread over the 4 partitions by key
        alert = Alert(
            id=f"hotspot:{i}", kind=AlertKind.HOTSPOT, time=now, grid_code=f"g{i}", title="t"
        )
        value, headers = encode_alert(alert)
        producer.send(kafka_topics.alerts, key=f"g{i}".encode(), value=value, headers=headers)
    producer.send(kafka_topics.alerts, key=b"junk", value=b"not an alert")  # skipped
    producer.flush()
    producer.close()

    def read(start: datetime, end: datetime) -> list[str]:
        alerts = asyncio.run(read_alerts(kafka_bootstrap, kafka_topics.alerts, start, end))
        return sorted(a.id for a in alerts)

    assert read(now - 0.1 * H, now + H) == [f"hotspot:{i}" for i in range(6)]
    assert read(now + 2 * H, now + 3 * H) == []  # produced before the window (and its slack)
    assert read(now - 5 * H, now - 3 * H) == []  # produced after it
