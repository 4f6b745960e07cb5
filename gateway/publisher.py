"""Publishing events to Kafka: the port, the aiokafka adapter and an in-memory twin.

One record is published with :meth:`EventPublisher.publish` (the HTTP answer waits
for the broker's ack); a batch with :meth:`EventPublisher.publish_many`, which the
adapter hands to the producer as one record batch per partition and awaits together,
so a thousand events cost one linger and a few requests, not a thousand sends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    InvalidProducerEpoch,
    KafkaError,
    OutOfOrderSequenceNumber,
    UnknownProducerId,
)
from aiokafka.partitioner import DefaultPartitioner

log = logging.getLogger(__name__)

# An idempotent producer that lost a batch while the broker was away is left
# with a gap in its sequence numbers; aiokafka never recovers from it (the Java
# client would bump its epoch), so every later send to that partition fails.
FENCED = (OutOfOrderSequenceNumber, UnknownProducerId, InvalidProducerEpoch)

Headers = list[tuple[str, bytes]]


class PublishError(RuntimeError):
    """The broker did not take the event; the HTTP caller gets a 503."""


class OutgoingRecord(NamedTuple):
    topic: str
    key: bytes | None
    value: bytes
    headers: Headers


PublishedRecord = OutgoingRecord  # what the in-memory twin keeps


class EventPublisher(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish(self, topic: str, key: bytes | None, value: bytes, headers: Headers) -> None:
        """Return only once the broker has acknowledged the record; raise
        :class:`PublishError` when it cannot."""
        ...

    async def publish_many(self, records: Sequence[OutgoingRecord]) -> list[PublishError | None]:
        """Publish every record at once; per record, in order: None once the broker
        has acknowledged it, else the :class:`PublishError` saying why not."""
        ...


class KafkaPublisher:
    """An idempotent aiokafka producer (acks=all). The producer is created in
    :meth:`start`, so constructing this object connects to nothing."""

    def __init__(
        self,
        bootstrap: str,
        client_id: str,
        *,
        linger_ms: int = 5,
        request_timeout_ms: int = 10_000,
        extra_config: Mapping[str, Any] | None = None,
    ) -> None:
        self._config: dict[str, Any] = {
            "bootstrap_servers": bootstrap,
            "client_id": client_id,
            "acks": "all",
            "enable_idempotence": True,
            "linger_ms": linger_ms,
            "request_timeout_ms": request_timeout_ms,
            **(extra_config or {}),
        }
        self._producer: Any = None
        self._wanted = False  # between start() and stop(): replace a lost producer
        self._replacing = asyncio.Lock()
        self.replacements = 0

    @property
    def started(self) -> bool:
        return self._producer is not None

    async def start(self) -> None:
        self._wanted = True
        self._producer = await self._new_producer()

    async def _new_producer(self) -> Any:
        producer = AIOKafkaProducer(**self._config)
        try:
            await producer.start()
        except KafkaError as exc:
            await producer.stop()
            raise PublishError(
                f"cannot reach Kafka at {self._config['bootstrap_servers']}: {exc}"
            ) from exc
        return producer

    async def stop(self) -> None:
        self._wanted = False
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def _current(self) -> Any:
        producer = self._producer
        if producer is None:
            if not self._wanted:
                raise PublishError("the Kafka producer is not started")
            producer = await self._replace(None)
        return producer

    async def publish(self, topic: str, key: bytes | None, value: bytes, headers: Headers) -> None:
        producer = await self._current()
        try:
            await producer.send_and_wait(topic, value=value, key=key, headers=headers)
        except FENCED as exc:
            # This request gets its 503 (the caller retries with the same
            # idempotency key); the next one goes through a new producer id.
            await self._replace(producer)
            raise PublishError(f"Kafka did not accept the event: {exc}") from exc
        except KafkaError as exc:
            raise PublishError(f"Kafka did not accept the event: {exc}") from exc

    async def publish_many(self, records: Sequence[OutgoingRecord]) -> list[PublishError | None]:
        """One record batch per partition (split where it fills), all awaited together.
        Records go to the partition their key gives, as :meth:`publish` would send them."""
        try:
            producer = await self._current()
        except PublishError as exc:  # Kafka away: every record gets the answer
            return [exc] * len(records)
        outcomes: list[PublishError | None] = [None] * len(records)
        try:
            groups = await self._by_partition(producer, records)
        except KafkaError as exc:
            error = PublishError(f"Kafka did not accept the events: {exc}")
            return [error] * len(records)
        waits: list[tuple[list[int], Any]] = []
        for (topic, partition), indexes in groups.items():
            for batch, members in self._batches(producer, records, indexes):
                try:
                    future = await producer.send_batch(batch, topic, partition=partition)
                except KafkaError as exc:
                    for index in members:
                        outcomes[index] = PublishError(f"Kafka did not accept the event: {exc}")
                    continue
                waits.append((members, future))
        results = await asyncio.gather(*(future for _, future in waits), return_exceptions=True)
        fenced = False
        for (members, _), result in zip(waits, results, strict=True):
            if isinstance(result, KafkaError):
                fenced = fenced or isinstance(result, FENCED)
                for index in members:
                    outcomes[index] = PublishError(f"Kafka did not accept the event: {result}")
            elif isinstance(result, BaseException):
                raise result
        if fenced:
            await self._replace(producer)
        return outcomes

    @staticmethod
    async def _by_partition(
        producer: Any, records: Sequence[OutgoingRecord]
    ) -> dict[tuple[str, int], list[int]]:
        """Record indexes by (topic, partition), the partition chosen as the producer's
        default partitioner would (murmur2 of the key), once per distinct key."""
        partitioner = DefaultPartitioner()
        known: dict[tuple[str, bytes | None], int] = {}
        partitions: dict[str, list[int]] = {}
        groups: dict[tuple[str, int], list[int]] = {}
        for index, record in enumerate(records):
            if record.topic not in partitions:
                partitions[record.topic] = sorted(await producer.partitions_for(record.topic))
            where = (record.topic, record.key)
            partition = known.get(where) if record.key is not None else None
            if partition is None:
                every = partitions[record.topic]
                partition = partitioner(record.key, every, every)
                if record.key is not None:
                    known[where] = partition
            groups.setdefault((record.topic, partition), []).append(index)
        return groups

    @staticmethod
    def _batches(
        producer: Any, records: Sequence[OutgoingRecord], indexes: list[int]
    ) -> list[tuple[Any, list[int]]]:
        """The records at ``indexes`` in as few record batches as their size allows."""
        out: list[tuple[Any, list[int]]] = []
        batch, members = producer.create_batch(), list[int]()
        for index in indexes:
            record = records[index]
            appended = batch.append(
                key=record.key, value=record.value, timestamp=None, headers=record.headers
            )
            if appended is None:  # full: close it and start the next
                out.append((batch, members))
                batch, members = producer.create_batch(), []
                if (
                    batch.append(
                        key=record.key, value=record.value, timestamp=None, headers=record.headers
                    )
                    is None
                ):
                    raise PublishError("an event larger than a whole record batch")
            members.append(index)
        if members:
            out.append((batch, members))
        return out

    async def _replace(self, broken: Any) -> Any:
        """A fresh producer in place of ``broken`` (once, however many requests
        found it broken); raises :class:`PublishError` while Kafka is away."""
        async with self._replacing:
            if self._producer is not broken and self._producer is not None:
                return self._producer
            self._producer = None
            if broken is not None:
                log.warning("replacing the Kafka producer after a fenced send")
                try:
                    await broken.stop()
                except Exception:  # it is being discarded anyway
                    log.exception("stopping the replaced Kafka producer failed")
            self._producer = await self._new_producer()
            self.replacements += 1
            return self._producer


@dataclass
class InMemoryPublisher:
    """Records every published event; set ``fail_with`` to make publishing fail."""

    records: list[PublishedRecord] = field(default_factory=list)
    fail_with: Exception | None = None
    started: bool = False

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.started = False

    async def publish(self, topic: str, key: bytes | None, value: bytes, headers: Headers) -> None:
        if self.fail_with is not None:
            raise PublishError(str(self.fail_with)) from self.fail_with
        self.records.append(PublishedRecord(topic, key, value, list(headers)))

    async def publish_many(self, records: Sequence[OutgoingRecord]) -> list[PublishError | None]:
        if self.fail_with is not None:
            return [PublishError(str(self.fail_with))] * len(records)
        self.records.extend(
            PublishedRecord(r.topic, r.key, r.value, list(r.headers)) for r in records
        )
        return [None] * len(records)

    def on(self, topic: str) -> list[PublishedRecord]:
        return [record for record in self.records if record.topic == topic]
