"""``gridhub replay``: rebuild the database projection from ``gridhub.case-events``.

The database is a projection of the case-event feed (DESIGN.md §3), so reading
the feed from its first offset to the end offsets seen at start and writing it
through the same idempotent writer yields the live projection again — into an
empty database, or over an existing one without changing it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from schemas.cases import CaseEvent
from sinks.ports import CaseSink
from streams.codecs import decode_case_event


@dataclass
class ReplayStats:
    records: int = 0
    events: int = 0
    skipped: int = 0
    seconds: float = 0.0


def replay(
    bootstrap: str,
    topic: str,
    sink: CaseSink,
    batch_size: int = 2000,
    progress: Callable[[ReplayStats, int], None] | None = None,
    security: Mapping[str, Any] | None = None,
) -> ReplayStats:
    """Write every case event on ``topic`` up to its current end through ``sink``;
    ``security``: the hub's Kafka security block as kafka-python keywords."""
    started = time.monotonic()
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        group_id=None,
        max_poll_records=batch_size,
        **(security or {}),
    )
    stats = ReplayStats()
    try:
        partitions = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])
        ]
        if not partitions:
            raise RuntimeError(f"topic {topic} does not exist")
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = {tp: off for tp, off in consumer.end_offsets(partitions).items()}
        total = sum(ends[tp] - consumer.beginning_offsets([tp])[tp] for tp in partitions)
        pending = {tp for tp in partitions if ends[tp] > consumer.position(tp)}
        while pending:
            batch: list[CaseEvent] = []
            for tp, records in consumer.poll(timeout_ms=1000, max_records=batch_size).items():
                for record in records:
                    if record.offset >= ends[tp]:
                        continue
                    stats.records += 1
                    try:
                        batch.append(decode_case_event(record.value or b""))
                    except ValueError:
                        stats.skipped += 1
            if batch:
                sink.write(batch)
                stats.events += len(batch)
            pending = {tp for tp in pending if consumer.position(tp) < ends[tp]}
            if progress:
                progress(stats, total)
    finally:
        consumer.close()
    stats.seconds = time.monotonic() - started
    return stats


def print_progress(stats: ReplayStats, total: int) -> None:
    sys.stderr.write(f"\rreplay: {stats.records}/{total} records, {stats.events} events written")
    sys.stderr.flush()
