"""Dead letters of intake (``gridhub.intake.dlq``): list them, and send them —
fixed, or as they were once the district's data can place them (re-routed) —
back to ``gridhub.intake`` (DESIGN.md §5 ``gridhub dlq list|redrive``).

A redriven record is the original value (or the fix given for it; a copy cut
for size is replaced by the original read back from where its headers say it
was) with the original headers minus the dead-letter ones, plus
``gridhub-redriven-from: <dlq topic>/<partition>/<offset>``. Redriving is
idempotent: the record keeps its CloudEvents ``source`` + ``id``, which intake
turns into the same report id, so sending it twice makes one report; and
records that were themselves redriven and failed again are listed with the
offset they came from.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

DEAD_LETTER_HEADERS = frozenset(
    {
        "gridhub-error",
        "gridhub-error-stage",
        "gridhub-original-topic",
        "gridhub-original-partition",
        "gridhub-original-offset",
        "gridhub-original-size",
        "gridhub-value-truncated",
        "gridhub-redriven-from",
    }
)
REDRIVEN_FROM = "gridhub-redriven-from"


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = field(default=())

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value.decode("utf-8", "replace")
        return None

    @property
    def reason(self) -> str:
        return self.header("gridhub-error") or ""

    @property
    def where(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"

    def summary(self) -> dict[str, object]:
        text = (self.value or b"")[:160].decode("utf-8", "replace")
        return {
            "partition": self.partition,
            "offset": self.offset,
            "reason": self.reason,
            "stage": self.header("gridhub-error-stage"),
            "original": "/".join(
                str(self.header(f"gridhub-original-{part}") or "?")
                for part in ("topic", "partition", "offset")
            ),
            "redriven_from": self.header(REDRIVEN_FROM),
            "truncated": self.header("gridhub-value-truncated") == "true",
            "value": text,
        }


# ``security``: the hub's Kafka security block as kafka-python keywords
# (``Settings.kafka_security.kafka_python()``): outside dev the broker wants them.
Security = Mapping[str, Any] | None


def _consumer(bootstrap: str, security: Security) -> KafkaConsumer:
    return KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None, **(security or {})
    )


def read(bootstrap: str, topic: str, *, security: Security = None) -> Iterator[DeadLetter]:
    """Every record on ``topic`` up to its current end, partition by partition."""
    consumer = _consumer(bootstrap, security)
    try:
        found = consumer.partitions_for_topic(topic)
        if found is None:
            raise RuntimeError(f"topic {topic} does not exist")
        partitions = [TopicPartition(topic, p) for p in sorted(found)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        pending = {tp for tp in partitions if ends[tp] > consumer.position(tp)}
        while pending:
            for tp, records in sorted(consumer.poll(timeout_ms=1000).items()):
                for r in records:
                    if r.offset < ends[tp]:
                        headers = tuple((str(k), bytes(v or b"")) for k, v in r.headers or [])
                        yield DeadLetter(topic, r.partition, r.offset, r.key, r.value, headers)
            pending = {tp for tp in pending if consumer.position(tp) < ends[tp]}
    finally:
        consumer.close()


def _original_value(bootstrap: str, letter: DeadLetter, security: Security) -> bytes | None:
    """The uncut value of a dead letter whose copy was cut for size."""
    topic = letter.header("gridhub-original-topic")
    partition, offset = (
        letter.header("gridhub-original-partition"),
        letter.header("gridhub-original-offset"),
    )
    if not (topic and partition and offset):
        return letter.value
    consumer = _consumer(bootstrap, security)
    try:
        tp = TopicPartition(topic, int(partition))
        consumer.assign([tp])
        consumer.seek(tp, int(offset))
        for _ in range(10):
            for record in consumer.poll(timeout_ms=1000).get(tp, []):
                if record.offset == int(offset):
                    return bytes(record.value or b"")
        raise RuntimeError(f"the original of {letter.where} is no longer at {topic}/{offset}")
    finally:
        consumer.close()


def redrive_record(
    letter: DeadLetter, value: bytes | None
) -> tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]:
    """Key, value and headers of the record that sends ``letter`` back to intake."""
    headers = [(k, v) for k, v in letter.headers if k not in DEAD_LETTER_HEADERS]
    headers.append((REDRIVEN_FROM, letter.where.encode()))
    return letter.key, value, headers


@dataclass
class RedriveResult:
    sent: list[str] = field(default_factory=list)


def redrive(
    bootstrap: str,
    dlq_topic: str,
    intake_topic: str,
    choose: Callable[[DeadLetter], bool],
    *,
    fixes: dict[tuple[int, int], bytes] | None = None,
    producer: KafkaProducer | None = None,
    security: Security = None,
) -> RedriveResult:
    """Send the dead letters ``choose`` picks back to ``intake_topic``, each with
    its fix from ``fixes`` (by partition, offset) when one is given; waits for
    the broker to confirm every send."""
    fixes = fixes or {}
    own = producer is None
    producer = producer or KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", **(security or {})
    )
    result = RedriveResult()
    try:
        futures = []
        for letter in read(bootstrap, dlq_topic, security=security):
            if not choose(letter):
                continue
            value = fixes.get((letter.partition, letter.offset))
            if value is None:
                truncated = letter.header("gridhub-value-truncated") == "true"
                value = _original_value(bootstrap, letter, security) if truncated else letter.value
            key, value, headers = redrive_record(letter, value)
            futures.append(producer.send(intake_topic, key=key, value=value, headers=headers))
            result.sent.append(letter.where)
        for future in futures:
            future.get(timeout=30)
    finally:
        if own:
            producer.close()
    return result


def picker(
    positions: Sequence[tuple[int, int]], reason_contains: str | None, every: bool
) -> Callable[[DeadLetter], bool]:
    """Which dead letters a redrive takes: the given positions, those whose reason
    holds a text, or (``every``) all of them."""
    wanted = set(positions)

    def choose(letter: DeadLetter) -> bool:
        if (letter.partition, letter.offset) in wanted:
            return True
        if reason_contains is not None and reason_contains in letter.reason:
            return True
        return every

    return choose
