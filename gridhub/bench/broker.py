"""What the bench reads from and removes on the broker while it runs (kafka-python):
end offsets of the stage topics (:class:`OffsetReader`, sampled to time each stage),
a consumer group's lag (to wait until the worker is idle), the records a run wrote
per topic, and the run's topics and groups, removed from a broker it did not start.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from gridhub.topics import delete_topics


class OffsetReader:
    """End offsets of some topics (sums over their partitions), with kafka-python."""

    def __init__(self, bootstrap: str, topics: Sequence[str]) -> None:
        from kafka import KafkaConsumer, TopicPartition

        self._consumer: Any = KafkaConsumer(
            bootstrap_servers=bootstrap, client_id="gridhub-bench-offsets", group_id=None
        )
        self._tps: dict[str, list[Any]] = {}
        for topic in topics:
            parts = self._consumer.partitions_for_topic(topic) or set()
            self._tps[topic] = [TopicPartition(topic, p) for p in sorted(parts)]

    def ends(self) -> dict[str, int]:
        every = [tp for tps in self._tps.values() for tp in tps]
        offsets = self._consumer.end_offsets(every)
        return {topic: sum(int(offsets[tp]) for tp in tps) for topic, tps in self._tps.items()}

    def close(self) -> None:
        self._consumer.close()


def topic_records(bootstrap: str, prefix: str) -> dict[str, int]:
    """Records in every topic whose name starts with ``prefix`` (the hub's topics and
    the worker's table changelogs), by name without the prefix; {} if unknown."""
    from kafka import KafkaConsumer, TopicPartition

    try:
        consumer: Any = KafkaConsumer(
            bootstrap_servers=bootstrap, client_id="gridhub-bench-count", group_id=None
        )
    except Exception:  # only informative
        return {}
    try:
        names = [t for t in consumer.topics() if t.startswith(prefix)]
        every = [
            TopicPartition(t, p) for t in names for p in consumer.partitions_for_topic(t) or ()
        ]
        ends = consumer.end_offsets(every)
        out: dict[str, int] = {}
        for tp in every:
            name = tp.topic[len(prefix) :].lstrip(".-")
            out[name] = out.get(name, 0) + int(ends[tp])
        return {name: n for name, n in sorted(out.items()) if n}
    except Exception:  # only informative
        return {}
    finally:
        consumer.close()


def group_lag(bootstrap: str, group: str) -> int | None:
    """Records not yet committed by ``group`` on every topic it has committed on
    (None if it has committed nothing yet)."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.admin import KafkaAdminClient

    admin: Any = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="gridhub-bench-lag")
    consumer: Any = KafkaConsumer(
        bootstrap_servers=bootstrap, client_id="gridhub-bench-lag", group_id=None
    )
    try:
        committed = admin.list_group_offsets({group: None}).get(group) or {}
        if not committed:
            return None
        every = [
            TopicPartition(topic, p)
            for topic in {tp.topic for tp in committed}
            for p in consumer.partitions_for_topic(topic) or ()
        ]
        ends = consumer.end_offsets(every)
        done = {tp: max(0, int(meta.offset)) for tp, meta in committed.items()}
        return sum(max(0, int(ends[tp]) - done.get(tp, 0)) for tp in every)
    finally:
        consumer.close()
        admin.close()


def drop_topics_and_groups(bootstrap: str, prefix: str) -> None:
    """Remove every topic and consumer group whose name starts with ``prefix``
    (a run's own topics and the worker's internal ones, all named after the run)."""
    from kafka.admin import KafkaAdminClient

    admin: Any = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="gridhub-bench")
    try:
        ours = [t for t in admin.list_topics() if t.startswith(prefix)]
        groups = [
            g.get("group_id") if isinstance(g, dict) else g[0] if isinstance(g, tuple) else g
            for g in admin.list_groups()
        ]
        mine = [g for g in groups if isinstance(g, str) and g.startswith(prefix)]
        if mine:
            with contextlib.suppress(Exception):
                admin.delete_groups(mine)
    finally:
        admin.close()
    if ours:
        delete_topics(bootstrap, ours, timeout=30)
