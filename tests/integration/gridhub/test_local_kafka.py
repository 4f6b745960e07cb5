"""The real Kafka broker: the session fixture, a produce/consume round-trip, topic creation
and a second, independent LocalKafka started and stopped in the test."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient

from gridhub.local.kafka import LocalKafka, stop_from_pidfile
from gridhub.local.processes import free_ports, port_is_free
from gridhub.topics import create_topics, delete_topics
from schemas.topics import TopicNames

pytestmark = pytest.mark.kafka


def partition_counts(bootstrap: str, names: list[str]) -> dict[str, int]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        return {t["name"]: len(t["partitions"]) for t in admin.describe_topics(names)}
    finally:
        admin.close()


def cluster_broker_ids(bootstrap: str) -> list[int]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, bootstrap_timeout_ms=10_000)
    try:
        return [b["broker_id"] for b in admin.describe_cluster()["brokers"]]
    finally:
        admin.close()


def test_fixture_broker_answers(kafka_bootstrap: str) -> None:
    assert cluster_broker_ids(kafka_bootstrap)


def test_produce_consume_round_trip(kafka_bootstrap: str, kafka_topics: TopicNames) -> None:
    topic = kafka_topics.intake
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    try:
        meta = producer.send(
            topic,
            key=b"310104-001",
            value="占道经营 street vendor".encode(),
            headers=[("ce_type", b"org.gridhub.report.submitted")],
        ).get(timeout=30)
    finally:
        producer.close()

    consumer = KafkaConsumer(
        bootstrap_servers=kafka_bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    try:
        consumer.assign([TopicPartition(topic, meta.partition)])
        consumer.seek(TopicPartition(topic, meta.partition), meta.offset)
        records: list[Any] = []
        deadline = time.monotonic() + 30
        while not records and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
    finally:
        consumer.close()
    assert records, "the record produced was not consumed back"
    record = records[0]
    assert record.key == b"310104-001"
    assert record.value.decode() == "占道经营 street vendor"
    assert list(record.headers) == [("ce_type", b"org.gridhub.report.submitted")]


def test_create_topics_is_idempotent(kafka_bootstrap: str, topic_prefix: str) -> None:
    names = [f"{topic_prefix}a", f"{topic_prefix}b"]
    try:
        assert create_topics(kafka_bootstrap, names, partitions=3, replication=1) == names
        assert create_topics(kafka_bootstrap, names, partitions=3, replication=1) == []
        more = [*names, f"{topic_prefix}c"]
        assert create_topics(kafka_bootstrap, more, partitions=3, replication=1) == [more[2]]
        assert partition_counts(kafka_bootstrap, more) == dict.fromkeys(more, 3)
    finally:
        deleted = delete_topics(kafka_bootstrap, [*names, f"{topic_prefix}c"])
    assert sorted(deleted) == sorted([*names, f"{topic_prefix}c"])


def test_kafka_topics_fixture_default(kafka_bootstrap: str, kafka_topics: TopicNames) -> None:
    counts = partition_counts(kafka_bootstrap, kafka_topics.all())
    assert counts == dict.fromkeys(kafka_topics.all(), 4)


@pytest.mark.parametrize("kafka_topics", [2], indirect=True)
def test_kafka_topics_fixture_partitions(kafka_bootstrap: str, kafka_topics: TopicNames) -> None:
    assert set(partition_counts(kafka_bootstrap, kafka_topics.all()).values()) == {2}


def test_second_broker_formats_starts_and_stops(tmp_path: Path) -> None:
    port, controller_port = free_ports(2)
    broker = LocalKafka(data_dir=tmp_path / "kafka", port=port, controller_port=controller_port)
    assert broker.needs_format()

    with broker:
        pid = broker.pid
        assert pid is not None
        assert broker.is_running()
        assert broker.pid_path.read_text().strip() == str(pid)
        assert cluster_broker_ids(broker.bootstrap) == [broker.node_id]
        assert create_topics(broker.bootstrap, ["x"], partitions=2, replication=1) == ["x"]
    assert not broker.is_running()
    assert not Path(f"/proc/{pid}").exists()
    assert not broker.pid_path.exists()
    assert port_is_free(port) and port_is_free(controller_port)
    assert not broker.needs_format()
    cluster_id = broker.cluster_id()

    # Restart on the same data dir: no re-format, the topic survived; then stop it "from
    # another shell" through the pid file.
    broker.start()
    assert broker.cluster_id() == cluster_id
    assert partition_counts(broker.bootstrap, ["x"]) == {"x": 2}
    pid = broker.pid
    assert stop_from_pidfile(broker.data_dir) is True
    assert not broker.is_running()  # also reaps the child (this test is its parent)
    assert not Path(f"/proc/{pid}").exists()
    broker.stop()  # already stopped: a no-op
    assert stop_from_pidfile(broker.data_dir) is False
    assert port_is_free(port) and port_is_free(controller_port)
    assert "Kafka Server started" in broker.log_path.read_text()
