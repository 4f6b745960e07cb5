from __future__ import annotations

import asyncio

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


class FakeProducer:
    def __init__(self, fail_with: Exception | None = None) -> None:
        self.fail_with = fail_with
        self.sent: list[bytes] = []
        self.stopped = False

    async def send_and_wait(
        self, topic: str, value: bytes, key: bytes | None, headers: object
    ) -> None:
        await asyncio.sleep(0)  # in flight together with the other requests
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append(value)

    async def stop(self) -> None:
        self.stopped = True


async def test_a_fenced_producer_is_replaced_once_and_the_next_event_goes_through(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After a broker restart aiokafka's idempotent producer can be left with a
    sequence gap that fails every later send: the request that finds it gets a
    503, the publisher starts a new producer, the retry is accepted."""
    from aiokafka.errors import OutOfOrderSequenceNumber

    broken = FakeProducer(fail_with=OutOfOrderSequenceNumber())
    fresh = FakeProducer()
    made = iter([broken, fresh])

    async def new_producer() -> FakeProducer:
        return next(made)

    publisher = KafkaPublisher("127.0.0.1:1", client_id="gateway-test")
    monkeypatch.setattr(publisher, "_new_producer", new_producer)
    await publisher.start()
    results = await asyncio.gather(
        *(publisher.publish("t", None, b"v", []) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, PublishError) for r in results)
    assert broken.stopped and publisher.replacements == 1
    await publisher.publish("t", None, b"retry", [])
    assert fresh.sent == [b"retry"]


async def test_an_ordinary_kafka_error_keeps_the_producer(monkeypatch: pytest.MonkeyPatch) -> None:
    from aiokafka.errors import KafkaTimeoutError

    producer = FakeProducer(fail_with=KafkaTimeoutError())

    async def new_producer() -> FakeProducer:
        return producer

    publisher = KafkaPublisher("127.0.0.1:1", client_id="gateway-test")
    monkeypatch.setattr(publisher, "_new_producer", new_producer)
    await publisher.start()
    with pytest.raises(PublishError):
        await publisher.publish("t", None, b"v", [])
    assert not producer.stopped and publisher.replacements == 0
