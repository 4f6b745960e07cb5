"""The CloudEvents 1.0 envelope and its Kafka binding (structured and binary modes).

The binding is written out here rather than delegated to the ``cloudevents``
SDK because the SDK invents an ``id`` and a ``time`` for events that lack them:
an intake that deduplicates on ``source`` + ``id`` and must normalise a replay
exactly as the first time has to refuse such events instead. It is also on the
hot path of every record. The tests prove compatibility both ways with the SDK
(its Kafka binding in both modes produces records we read; it reads ours).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
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

_JSON_CONTENT_TYPE = re.compile(r"^(application|text)/([a-zA-Z0-9\-.]+\+)?json(;.*)?$")


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


def _text_or_base64(data: bytes, content_type: str) -> str:
    # Text payloads (CAP XML, plain text) travel as str; anything else stays
    # base64 so that the envelope remains JSON-serialisable.
    if content_type.startswith(("text/", "application/xml")) or "+xml" in content_type:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise EnvelopeError(f"data: not UTF-8 text ({exc.reason})") from exc
    return base64.b64encode(data).decode("ascii")


def _validated(attributes: dict[str, Any]) -> Envelope:
    try:
        return Envelope.model_validate(attributes)
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
    """Parse one Kafka record as a CloudEvent (Kafka protocol binding): binary
    mode if any ``ce_`` header is present, structured mode otherwise. The record
    key becomes the ``partitionkey`` extension. Raises :class:`EnvelopeError`."""
    if value is None:
        raise EnvelopeError("record has no value")
    header_map = {name.lower(): bytes(val or b"") for name, val in headers or ()}
    if any(name.startswith("ce_") for name in header_map):
        envelope = _decode_binary(value, header_map)
    else:
        envelope = decode_structured_json(value)
    if key is not None and "partitionkey" not in envelope.extensions:
        envelope = envelope.model_copy(update={"partitionkey": key.decode("utf-8", "replace")})
    return envelope


def _decode_binary(value: bytes, headers: dict[str, bytes]) -> Envelope:
    try:
        attributes: dict[str, Any] = {
            name[3:]: raw.decode("utf-8") for name, raw in headers.items() if name.startswith("ce_")
        }
        content_type = headers.get(CONTENT_TYPE_HEADER, b"").decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EnvelopeError(f"headers: not UTF-8 ({exc.reason})") from exc
    if content_type:
        attributes["datacontenttype"] = content_type
    if not value:
        attributes["data"] = None
    elif _is_json_type(content_type or None):
        try:
            attributes["data"] = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise EnvelopeError(f"data: invalid JSON ({exc})") from exc
    else:
        attributes["data"] = _text_or_base64(value, content_type)
    return _validated(attributes)


def decode_structured_json(raw: bytes | str) -> Envelope:
    """Parse a structured-mode JSON CloudEvent (HTTP body or Kafka value)."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise EnvelopeError(f"not a CloudEvent: invalid JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise EnvelopeError("not a CloudEvent: a JSON object is required")
    if "data_base64" in doc:
        try:
            data = base64.b64decode(doc.pop("data_base64"), validate=True)
        except (ValueError, TypeError) as exc:
            raise EnvelopeError(f"data_base64: {exc}") from exc
        doc["data"] = _text_or_base64(data, str(doc.get("datacontenttype") or ""))
    return _validated(doc)


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
    return content_type is None or bool(_JSON_CONTENT_TYPE.match(content_type))


def now_utc() -> datetime:
    return datetime.now(UTC)
