from __future__ import annotations

import pytest

from gateway.publisher import InMemoryPublisher, KafkaPublisher, PublishError


async def test_in_memory_publisher_records_and_fails_on_demand() -> None:
    publisher = InMemoryPublisher()
    await publisher.start()
    await publisher.publish("t", b"k", b"v", [("content-type", b"x")])
    topic, key, value, headers = publisher.records[0]
    assert (topic, key, value, headers) == ("t", b"k", b"v", [("content-type", b"x")])
    assert publisher.on("t") == publisher.records and publisher.on("other") == []
    publisher.fail_with = ConnectionError("down")
    with pytest.raises(PublishError, match="down"):
        await publisher.publish("t", None, b"v", [])
    await publisher.stop()
    assert not publisher.started


async def test_kafka_publisher_connects_to_nothing_until_started() -> None:
    publisher = KafkaPublisher("127.0.0.1:1", client_id="gateway-test")
    assert not publisher.started
    with pytest.raises(PublishError, match="not started"):
        await publisher.publish("t", None, b"v", [])
    await publisher.stop()  # harmless when never started


async def test_kafka_publisher_start_fails_clearly_without_a_broker() -> None:
    publisher = KafkaPublisher("127.0.0.1:1", client_id="gateway-test")
    with pytest.raises(PublishError, match="cannot reach Kafka at 127.0.0.1:1"):
        await publisher.start()
    assert not publisher.started
