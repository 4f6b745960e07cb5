"""Publish CloudEvents to GridHub over Kafka: a small publisher for other systems.

Built on kafka-python (synchronous, thread-safe). Events go to ``gridhub.intake``
(DESIGN.md §5) in either mode of the CloudEvents Kafka binding:

- ``structured``: the whole event as JSON in the record value
  (``content-type: application/cloudevents+json``);
- ``binary``: the attributes as ``ce_*`` headers, ``datacontenttype`` as
  ``content-type``, the data alone in the value.

The record key is the ``partitionkey`` extension if the event has one, else its
``source``. The producer is idempotent with ``acks=all``: a delivery confirmed
by :meth:`Publisher.publish_many` (or a future from :meth:`Publisher.publish`)
is on every in-sync replica. GridHub drops repeats of an event with the same
``source`` + ``id``, so re-sending after an error is harmless.

Example::

    from gridhub.client import Publisher, make_event

    with Publisher("broker:9092", mode="binary", linger_ms=20) as publisher:
        alarm = make_event(
            "org.gridhub.sensor.alarm",
            "urn:iot:gas-network",
            {"device_id": "gas-0042", "metric": "gas_ppm", "reading": 120,
             "threshold": 50, "unit": "ppm", "grid_code": "990101001001001",
             "occurred_at": "2026-08-15T14:30:00+08:00"},
        )
        future = publisher.publish(alarm)          # asynchronous
        metadata = future.get(timeout=10)          # RecordMetadata(topic, partition, offset...)
        publisher.publish_many([alarm, ...])       # waits for every confirmation

``gridhub publish`` is the same from a shell.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Literal

import orjson
from pydantic import ValidationError

from schemas.envelope import (
    CAP_ALERT,
    INBOUND_TYPES,
    Envelope,
    EnvelopeError,
    describe_validation_error,
    encode_binary,
    encode_structured,
    now_utc,
)

__all__ = [
    "DEFAULT_TOPIC",
    "Envelope",
    "PublishError",
    "PublishFailed",
    "Publisher",
    "derived_id",
    "make_event",
]

DEFAULT_TOPIC = "gridhub.intake"
Mode = Literal["structured", "binary"]
EventLike = Envelope | Mapping[str, Any]
# Ids derived from an event's content (``derived_id``): the same content, the same id.
EVENT_ID_NAMESPACE = uuid.UUID("0b7e6a3c-2f1d-5c8e-9a47-3d6b1f0e8c25")


class PublishError(RuntimeError):
    """The broker could not be reached or did not take an event."""


class PublishFailed(PublishError):
    """Some events of :meth:`Publisher.publish_many` were not delivered.

    ``results`` has one entry per event, in order: its ``RecordMetadata``, or the
    exception that stopped it."""

    def __init__(self, results: list[Any]) -> None:
        self.results = results
        failed = [(n, r) for n, r in enumerate(results) if isinstance(r, BaseException)]
        first_index, first_error = failed[0]
        super().__init__(
            f"{len(failed)} of {len(results)} events not delivered "
            f"(first: event {first_index}: {first_error})"
        )


def derived_id(type_: str, source: str, data: Any) -> str:
    """An id from the event's content: sending the same content again is the
    same event, which GridHub drops (a re-run of a script publishes nothing new)."""
    body = data if isinstance(data, str) else orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
    text = body if isinstance(body, str) else body.decode()
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{type_}\x1f{source}\x1f{text}"))


def make_event(
    type_: str,
    source: str,
    data: Any,
    *,
    id: str | None = None,  # noqa: A002 - the CloudEvents attribute name
    subject: str | None = None,
    time: datetime | None = None,
    datacontenttype: str | None = None,
    **extensions: str | int | bool,
) -> Envelope:
    """A CloudEvent for GridHub. ``id`` defaults to a random UUID and ``time`` to
    now; ``datacontenttype`` to ``application/cap+xml`` for CAP alerts (``data``
    is the XML text) and ``application/json`` otherwise."""
    if datacontenttype is None:
        datacontenttype = "application/cap+xml" if type_ == CAP_ALERT else "application/json"
    attributes: dict[str, Any] = {
        "specversion": "1.0",
        "id": id or str(uuid.uuid4()),
        "source": source,
        "type": type_,
        "time": time or now_utc(),
        "datacontenttype": datacontenttype,
        "data": data,
        **extensions,
    }
    if subject is not None:
        attributes["subject"] = subject
    return _envelope(attributes)


def _envelope(event: EventLike) -> Envelope:
    if isinstance(event, Envelope):
        return event
    try:
        return Envelope.model_validate(dict(event))
    except ValidationError as exc:
        raise EnvelopeError(describe_validation_error(exc)) from exc


class Publisher:
    """A kafka-python producer that sends CloudEvents with delivery confirmation.

    ``linger_ms`` and ``batch_size`` tune batching (wait up to ``linger_ms`` to
    fill batches of up to ``batch_size`` bytes per partition); ``**config`` goes to
    ``kafka.KafkaProducer`` as is (SASL/TLS settings, ``compression_type``...).
    With ``check_types`` (default) only GridHub's inbound event types are sent.
    Connects on construction; :class:`PublishError` if no broker answers."""

    def __init__(
        self,
        bootstrap: str | Sequence[str] = "127.0.0.1:9092",
        *,
        topic: str = DEFAULT_TOPIC,
        mode: Mode = "structured",
        linger_ms: int = 5,
        batch_size: int = 64 * 1024,
        acks: int | str = "all",
        client_id: str = "gridhub-publisher",
        check_types: bool = True,
        timeout: float = 30.0,
        **config: Any,
    ) -> None:
        if mode not in ("structured", "binary"):
            raise ValueError(f"mode must be structured or binary, not {mode!r}")
        from kafka import KafkaProducer
        from kafka.errors import KafkaConfigurationError, KafkaError

        self.topic = topic
        self.mode: Mode = mode
        self.check_types = check_types
        self.timeout = timeout
        servers = bootstrap.split(",") if isinstance(bootstrap, str) else list(bootstrap)
        settings: dict[str, Any] = {
            "bootstrap_servers": servers,
            "client_id": client_id,
            "acks": acks,
            "enable_idempotence": acks in ("all", -1),
            "linger_ms": linger_ms,
            "batch_size": batch_size,
            "request_timeout_ms": 10_000,
            **config,
        }
        # kafka-python wants the delivery timeout above linger + one request.
        floor = int(settings["linger_ms"]) + int(settings["request_timeout_ms"]) + 1000
        settings.setdefault("delivery_timeout_ms", max(int(timeout * 1000), floor))
        try:
            self._producer: Any = KafkaProducer(**settings)
        except KafkaConfigurationError as exc:
            raise ValueError(f"Kafka producer settings: {exc}") from exc
        except KafkaError as exc:
            raise PublishError(f"cannot reach Kafka at {','.join(servers)}: {exc}") from exc

    def encode(self, event: EventLike) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
        """``(key, value, headers)`` of the record for ``event`` in this publisher's mode."""
        envelope = _envelope(event)
        if self.check_types and envelope.type not in INBOUND_TYPES:
            raise EnvelopeError(
                f"type: {envelope.type!r} is not a GridHub inbound type "
                f"({', '.join(INBOUND_TYPES)})"
            )
        key = envelope.extensions.get("partitionkey") or envelope.source
        value, headers = (
            encode_binary(envelope) if self.mode == "binary" else encode_structured(envelope)
        )
        return str(key).encode("utf-8"), value, headers

    def publish(self, event: EventLike, *, topic: str | None = None) -> Any:
        """Send one event; returns kafka-python's future (``.get(timeout)`` gives
        the ``RecordMetadata`` once the broker confirmed it, or raises).
        :class:`~schemas.envelope.EnvelopeError` for an invalid event."""
        key, value, headers = self.encode(event)
        return self._producer.send(topic or self.topic, value=value, key=key, headers=headers)

    def publish_many(self, events: Iterable[EventLike], *, topic: str | None = None) -> list[Any]:
        """Send every event (batched by the producer), then wait for every
        confirmation. Returns the ``RecordMetadata`` of each, in order; raises
        :class:`PublishFailed` (with the per-event results) if any failed.
        Every event is checked before the first is sent."""
        records = [self.encode(event) for event in events]
        futures = [
            self._producer.send(topic or self.topic, value=value, key=key, headers=headers)
            for key, value, headers in records
        ]
        self._producer.flush(timeout=self.timeout)
        results: list[Any] = []
        for future in futures:
            try:
                results.append(future.get(timeout=self.timeout))
            except Exception as exc:
                results.append(exc)
        if any(isinstance(result, BaseException) for result in results):
            raise PublishFailed(results)
        return results

    def flush(self, timeout: float | None = None) -> None:
        """Wait until every event sent so far is confirmed or failed."""
        self._producer.flush(timeout=self.timeout if timeout is None else timeout)

    def close(self, timeout: float | None = None) -> None:
        """Flush and close the producer."""
        self._producer.close(timeout=self.timeout if timeout is None else timeout)

    def __enter__(self) -> Publisher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
