"""The CloudEvents 1.0 envelope and its Kafka binding (structured and binary modes).

Decoding goes through the official ``cloudevents`` SDK, so what we accept is what
the spec's reference implementation accepts. Encoding of our own outbound events
is a plain JSON dump of the same attribute set: it sits on the hot path of every
case event, and the tests check that the SDK reads it back unchanged.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.formats.json import JSONFormat
from pydantic import BaseModel, ConfigDict, Field, ValidationError

STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"
BATCH_CONTENT_TYPE = "application/cloudevents-batch+json"
CONTENT_TYPE_HEADER = "content-type"

# Inbound event types (DESIGN.md §5).
REPORT_SUBMITTED = "org.gridhub.report.submitted"
CITYMGMT_CASE = "org.gridhub.citymgmt.case"
SENSOR_ALARM = "org.gridhub.sensor.alarm"
CAP_ALERT = "org.gridhub.cap.alert"
INBOUND_TYPES = (REPORT_SUBMITTED, CITYMGMT_CASE, SENSOR_ALARM, CAP_ALERT)

CASE_EVENT_PREFIX = "org.gridhub.case."

_FORMAT = JSONFormat()
_CORE_ATTRIBUTES = frozenset(
    {"specversion", "id", "source", "type", "subject", "time", "datacontenttype", "dataschema"}
)


class EnvelopeError(ValueError):
    """A record that is not a usable CloudEvent; ``reason`` goes to the DLQ headers."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Envelope(BaseModel):
    """A CloudEvent 1.0. Extension attributes (``partitionkey``, ``traceparent``...)
    are kept as extra fields, exactly as they appear at the top level of the
    structured JSON form."""

    model_config = ConfigDict(extra="allow", frozen=True)

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(min_length=1, max_length=256)
    source: str = Field(min_length=1, max_length=512)
    type: str = Field(min_length=1, max_length=256)
    subject: str | None = Field(default=None, max_length=256)
    time: datetime | None = None
    datacontenttype: str | None = Field(default=None, max_length=128)
    dataschema: str | None = Field(default=None, max_length=512)
    data: Any = None

    @property
    def dedup_key(self) -> str:
        """A CloudEvent with the same ``source`` + ``id`` is the same event (spec §id)."""
        return f"{self.source}\x1f{self.id}"

    @property
    def extensions(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    def attributes(self) -> dict[str, Any]:
        """Context attributes (core and extensions) without ``data``, None values dropped."""
        attrs = self.model_dump(exclude={"data"}, exclude_none=True)
        if self.time is not None:
            attrs["time"] = _iso(self.time)
        return attrs


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat().replace("+00:00", "Z")


def _envelope_from_sdk(attributes: dict[str, Any], data: Any) -> Envelope:
    if isinstance(data, bytes | bytearray):
        content_type = str(attributes.get("datacontenttype") or "")
        # Text payloads (CAP XML, plain text) travel as str; anything else stays
        # base64 so that the envelope remains JSON-serialisable.
        if content_type.startswith(("text/", "application/xml")) or "+xml" in content_type:
            try:
                data = bytes(data).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise EnvelopeError(f"data: not UTF-8 text ({exc.reason})") from exc
        else:
            data = base64.b64encode(bytes(data)).decode("ascii")
    try:
        return Envelope.model_validate({**attributes, "data": data})
    except ValidationError as exc:
        raise EnvelopeError(describe_validation_error(exc)) from exc


def describe_validation_error(exc: ValidationError) -> str:
    """One line naming every failing field, for DLQ headers and HTTP errors."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def decode_kafka(
    value: bytes | None,
    headers: Iterable[tuple[str, bytes]] | None,
    key: bytes | None = None,
) -> Envelope:
    """Parse one Kafka record as a CloudEvent, binary mode if any ``ce_`` header is
    present, structured mode otherwise. Raises :class:`EnvelopeError` with a reason."""
    if value is None:
        raise EnvelopeError("record has no value")
    header_map = {name: bytes(val or b"") for name, val in headers or ()}
    message = ce_kafka.KafkaMessage(headers=header_map, key=key, value=value)
    try:
        event = ce_kafka.from_kafka(message, _FORMAT)
    except (ValueError, TypeError, KeyError, UnicodeDecodeError) as exc:
        raise EnvelopeError(f"not a CloudEvent: {_short(exc)}") from exc
    except Exception as exc:  # the SDK's validation errors share no useful base
        raise EnvelopeError(f"not a CloudEvent: {_short(exc)}") from exc
    return _envelope_from_sdk(dict(event.get_attributes()), event.get_data())


def decode_structured_json(raw: bytes | str) -> Envelope:
    """Parse a structured-mode JSON CloudEvent (HTTP body or Kafka value)."""
    try:
        event = _FORMAT.read(None, raw)
    except Exception as exc:
        raise EnvelopeError(f"not a CloudEvent: {_short(exc)}") from exc
    return _envelope_from_sdk(dict(event.get_attributes()), event.get_data())


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def encode_structured(event: Envelope) -> tuple[bytes, list[tuple[str, bytes]]]:
    """Structured mode: the whole event as JSON in the value."""
    body = event.attributes()
    if event.data is not None:
        body["data"] = event.data
    value = orjson.dumps(body)
    return value, [(CONTENT_TYPE_HEADER, STRUCTURED_CONTENT_TYPE.encode())]


def encode_binary(event: Envelope) -> tuple[bytes, list[tuple[str, bytes]]]:
    """Binary mode: attributes as ``ce_`` headers, ``data`` alone in the value."""
    headers: list[tuple[str, bytes]] = []
    for name, attr in event.attributes().items():
        if name == "datacontenttype":
            headers.append((CONTENT_TYPE_HEADER, str(attr).encode()))
        else:
            headers.append((f"ce_{name}", str(attr).encode()))
    data = event.data
    if data is None:
        value = b""
    elif isinstance(data, str) and not _is_json_type(event.datacontenttype):
        value = data.encode("utf-8")
    else:
        value = orjson.dumps(data)
    return value, headers


def _is_json_type(content_type: str | None) -> bool:
    return content_type is None or bool(JSONFormat.JSON_CONTENT_TYPE_PATTERN.match(content_type))


def now_utc() -> datetime:
    return datetime.now(UTC)
