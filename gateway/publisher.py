"""Publishing events to Kafka: the port, the aiokafka adapter and an in-memory twin."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    InvalidProducerEpoch,
    KafkaError,
    OutOfOrderSequenceNumber,
    UnknownProducerId,
)

log = logging.getLogger(__name__)

# An idempotent producer that lost a batch while the broker was away is left
# with a gap in its sequence numbers; aiokafka never recovers from it (the Java
# client would bump its epoch), so every later send to that partition fails.
FENCED = (OutOfOrderSequenceNumber, UnknownProducerId, InvalidProducerEpoch)

Headers = list[tuple[str, bytes]]


class PublishError(RuntimeError):
    """The broker did not take the event; the HTTP caller gets a 503."""


class EventPublisher(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish(self, topic: str, key: bytes | None, value: bytes, headers: Headers) -> None:
        """Return only once the broker has acknowledged the record; raise
        :class:`PublishError` when it cannot."""
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

    async def publish(self, topic: str, key: bytes | None, value: bytes, headers: Headers) -> None:
        producer = self._producer
        if producer is None:
            if not self._wanted:
                raise PublishError("the Kafka producer is not started")
            producer = await self._replace(None)
        try:
            await producer.send_and_wait(topic, value=value, key=key, headers=headers)
        except FENCED as exc:
            # This request gets its 503 (the caller retries with the same
            # idempotency key); the next one goes through a new producer id.
            await self._replace(producer)
            raise PublishError(f"Kafka did not accept the event: {exc}") from exc
        except KafkaError as exc:
            raise PublishError(f"Kafka did not accept the event: {exc}") from exc

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


class PublishedRecord(NamedTuple):
    topic: str
    key: bytes | None
    value: bytes
    headers: Headers


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

    def on(self, topic: str) -> list[PublishedRecord]:
        return [record for record in self.records if record.topic == topic]
