"""CloudEvents over HTTP (HTTP protocol binding 1.0): binary, structured and batched
mode in, :class:`~schemas.envelope.Envelope` out; and the checks the gateway makes
before an inbound event goes to ``gridhub.intake``.

The worker (``streams.logic.intake``) stays the authority on every event: the gateway
checks what it can answer cheaply and clearly (the envelope, the data's schema,
the category, the grid), so a sender learns of a bad event from its HTTP answer
rather than from the DLQ. Pure functions, no I/O.

Problems are raised as :class:`EventProblem`: ``status`` 400 for a body that is
not a CloudEvent at all (invalid JSON, not an object, undecodable headers), 413
for an event over the size limit, 415 for a content type no mode accepts, 422
for an event whose attributes or data are invalid; ``errors`` names each
attribute (``id``, ``type``, ``data.category``...).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import orjson
from pydantic import BaseModel, ValidationError

from gateway.ports import DistrictData
from routing.placement import Placement, PlacementRefused
from schemas.cap import CapRefused, accept_cap
from schemas.envelope import (
    BATCH_CONTENT_TYPE,
    CAP_ALERT,
    CITYMGMT_CASE,
    INBOUND_TYPES,
    REPORT_SUBMITTED,
    SENSOR_ALARM,
    STRUCTURED_CONTENT_TYPE,
    Envelope,
)
from schemas.reports import GeoPoint, ReportSubmission
from schemas.sources import CapAlert, CitymgmtCase, SensorAlarm

CE_HEADER_PREFIX = "ce-"
JSON_CONTENT_TYPE = "application/json"
PARTITION_KEY = "partitionkey"
MAX_EXTENSIONS = 32

_EXTENSION_NAME = re.compile(r"^[a-z0-9]{1,20}$")
_JSON_TYPE = re.compile(r"^(application|text)/([a-z0-9\-.]+\+)?json$")
_DATA_MODELS: dict[str, type[BaseModel]] = {
    REPORT_SUBMITTED: ReportSubmission,
    CITYMGMT_CASE: CitymgmtCase,
    SENSOR_ALARM: SensorAlarm,
}

FieldProblem = tuple[str, str]  # (attribute, message)


class EventProblem(ValueError):
    """Why an event is refused; ``errors`` names the attributes."""

    def __init__(self, status: int, errors: list[FieldProblem]) -> None:
        self.status = status
        self.errors = errors
        super().__init__(self.reason)

    @property
    def reason(self) -> str:
        return "; ".join(f"{name}: {message}" for name, message in self.errors)


def bad_request(message: str, name: str = "body") -> EventProblem:
    return EventProblem(400, [(name, message)])


def invalid(name: str, message: str) -> EventProblem:
    return EventProblem(422, [(name, message)])


def media_type(content_type: str | None) -> str:
    """``application/cloudevents+json; charset=utf-8`` -> ``application/cloudevents+json``."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_json_type(content_type: str | None) -> bool:
    kind = media_type(content_type)
    return not kind or bool(_JSON_TYPE.match(kind))


def is_text_type(content_type: str | None) -> bool:
    kind = media_type(content_type)
    return kind.startswith("text/") or kind == "application/xml" or kind.endswith("+xml")


def has_binary_headers(headers: Iterable[str]) -> bool:
    return any(name.lower().startswith(CE_HEADER_PREFIX) for name in headers)


# -- parsing ------------------------------------------------------------------------


def _validated(attributes: dict[str, Any]) -> Envelope:
    if "specversion" not in attributes:
        raise invalid("specversion", 'required (CloudEvents 1.0: "1.0")')
    try:
        envelope = Envelope.model_validate(attributes)
    except ValidationError as exc:
        raise EventProblem(
            422,
            [
                (".".join(str(p) for p in err["loc"]) or "event", str(err["msg"]))
                for err in exc.errors()
            ],
        ) from exc
    _check_extensions(envelope)
    return envelope


def _check_extensions(envelope: Envelope) -> None:
    extensions = envelope.extensions
    if len(extensions) > MAX_EXTENSIONS:
        raise invalid("event", f"{len(extensions)} extension attributes, at most {MAX_EXTENSIONS}")
    for name, value in extensions.items():
        if not _EXTENSION_NAME.match(name):
            raise invalid(
                name[:40],
                "extension attribute names are 1-20 lower-case letters or digits",
            )
        if value is not None and not isinstance(value, str | int | bool):
            raise invalid(name, "an extension attribute must be a string, integer or boolean")
        if isinstance(value, str) and len(value) > 1024:
            raise invalid(name, "extension attribute longer than 1024 characters")


def _data_from_bytes(raw: bytes, content_type: str | None, name: str) -> Any:
    """Data bytes as the envelope keeps them: JSON parsed, text decoded, else base64."""
    if is_json_type(content_type):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise bad_request(f"invalid JSON ({exc})", name) from exc
    if is_text_type(content_type):
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise bad_request(f"not UTF-8 text ({exc.reason})", name) from exc
    return base64.b64encode(raw).decode("ascii")


def parse_binary(headers: Mapping[str, str], body: bytes) -> Envelope:
    """Binary mode: attributes in ``ce-`` headers (percent-encoded, HTTP binding
    §3.1.3.2), ``Content-Type`` is ``datacontenttype``, the body is ``data``."""
    attributes: dict[str, Any] = {}
    content_type: str | None = None
    for header, value in headers.items():
        name = header.lower()
        if name.startswith(CE_HEADER_PREFIX):
            attr = name[len(CE_HEADER_PREFIX) :]
            try:
                attributes[attr] = unquote(value, errors="strict")
            except UnicodeDecodeError as exc:
                raise bad_request(f"header {header} is not percent-encoded UTF-8", attr) from exc
        elif name == "content-type":
            content_type = value
    if content_type:
        attributes["datacontenttype"] = content_type
    attributes["data"] = _data_from_bytes(body, content_type, "data") if body else None
    return _validated(attributes)


def parse_structured_doc(doc: Any) -> Envelope:
    """One structured-mode event, already parsed from JSON."""
    if not isinstance(doc, dict):
        raise bad_request("a CloudEvent must be a JSON object", "event")
    if "data_base64" in doc:
        if "data" in doc:
            raise invalid("data_base64", "an event has data or data_base64, not both")
        encoded = doc.pop("data_base64")
        if not isinstance(encoded, str):
            raise invalid("data_base64", "must be a base64 string")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise invalid("data_base64", f"not base64 ({exc})") from exc
        content_type = doc.get("datacontenttype")
        doc["data"] = _data_from_bytes(
            raw, content_type if isinstance(content_type, str) else None, "data_base64"
        )
    return _validated(doc)


def parse_json(body: bytes) -> Any:
    if not body.strip():
        raise bad_request("empty body")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"invalid JSON ({exc})") from exc


def parse_structured(body: bytes) -> Envelope:
    """Structured mode: the whole event as one JSON object (``application/cloudevents+json``)."""
    return parse_structured_doc(parse_json(body))


def parse_batch(body: bytes) -> list[Any]:
    """Batched mode: a JSON array of structured events (``application/cloudevents-batch+json``)."""
    docs = parse_json(body)
    if not isinstance(docs, list):
        raise bad_request("a CloudEvents batch must be a JSON array of events")
    return docs


def event_size(doc: Any) -> int:
    return len(orjson.dumps(doc))


# -- checks ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    """Where an event says it happened, to be placed on a grid with the others of
    its batch (``district.place_many``): one point-in-polygon query per batch."""

    location: GeoPoint | None
    grid_code: str | None

    @property
    def key(self) -> tuple[GeoPoint | None, str | None]:
        return self.location, self.grid_code


def check_event(envelope: Envelope, district: DistrictData) -> Place | None:
    """The checks the worker would fail the event on, where they are cheap here.

    Placing the event on a grid is left to the caller (a batch places all its
    events in one query): the answer is the place to check, if the event has one;
    see :func:`check_placed`."""
    if envelope.type not in INBOUND_TYPES:
        raise invalid(
            "type",
            f"unsupported event type {envelope.type[:80]!r}; accepted: {', '.join(INBOUND_TYPES)}",
        )
    if envelope.type == CAP_ALERT:
        check_cap_event(envelope)
        return None
    if envelope.data is None:
        raise invalid("data", "required: the event has no data")
    if not is_json_type(envelope.datacontenttype):
        raise invalid(
            "datacontenttype",
            f"{envelope.type} data is JSON, not {media_type(envelope.datacontenttype)[:64]!r}",
        )
    if not isinstance(envelope.data, dict):
        raise invalid("data", "a JSON object is required")
    model = _DATA_MODELS[envelope.type]
    try:
        data = model.model_validate(envelope.data)
    except ValidationError as exc:
        raise EventProblem(
            422,
            [
                (
                    "data." + ".".join(str(p) for p in err["loc"]) if err["loc"] else "data",
                    err["msg"],
                )
                for err in exc.errors()
            ],
        ) from exc
    if isinstance(data, ReportSubmission) and data.category not in district.taxonomy:
        raise invalid(
            "data.category", f"unknown category {data.category!r} (see GET /api/v1/categories)"
        )
    return Place(getattr(data, "location", None), getattr(data, "grid_code", None))


def check_placed(placed: Placement | PlacementRefused) -> Placement:
    """The event's placement, or a 422 naming the data field at fault."""
    if isinstance(placed, PlacementRefused):
        raise invalid(f"data.{placed.field}" if placed.field else "data", placed.reason)
    return placed


def check_whole_event(envelope: Envelope, district: DistrictData) -> None:
    """:func:`check_event` and the placement, for one event."""
    place = check_event(envelope, district)
    if place is not None:
        [placed] = district.place_many([place.key])
        check_placed(placed)


def check_cap_event(envelope: Envelope) -> CapAlert:
    """The CAP alert an ``org.gridhub.cap.alert`` event carries, if the hub accepts it."""
    try:
        return accept_cap(envelope.datacontenttype, envelope.data)
    except CapRefused as exc:
        raise invalid(exc.field, exc.reason) from exc


def partition_key(envelope: Envelope) -> bytes:
    """The Kafka key (DESIGN.md §5): the ``partitionkey`` extension, else the source."""
    key = envelope.extensions.get(PARTITION_KEY)
    return str(key if key not in (None, "") else envelope.source).encode("utf-8")


__all__ = [
    "BATCH_CONTENT_TYPE",
    "STRUCTURED_CONTENT_TYPE",
    "EventProblem",
    "Place",
    "check_event",
    "check_placed",
    "check_whole_event",
    "has_binary_headers",
    "parse_batch",
    "parse_binary",
    "parse_structured",
    "partition_key",
]
