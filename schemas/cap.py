"""OASIS CAP 1.2 in GridHub: reading the XML into :class:`schemas.sources.CapAlert`
(DESIGN.md §8: defusedxml, DTDs, entities and external references refused) and
the one rule of which CAP messages the hub accepts (:func:`accept_cap`).

The gateway and the intake stage both call :func:`accept_cap`; they differ only
in how they answer a refusal (an HTTP 422 naming the field, or a dead letter
with the reason in its headers).

Only the subset GridHub uses is read; other CAP elements (``resource``,
``parameter``, ``eventCode``...) are skipped. No I/O.
"""

from __future__ import annotations

import math
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET  # type: ignore[import-untyped]
from pydantic import ValidationError

from schemas.envelope import describe_validation_error
from schemas.sources import CAP_NAMESPACE, MAX_CAP_POLYGON_POINTS, CapAlert

MAX_CAP_BYTES = 256 * 1024
# Media types under which CAP XML is accepted as CloudEvents data.
CAP_CONTENT_TYPES = ("application/cap+xml", "application/xml", "text/xml")

_NS = "{" + CAP_NAMESPACE + "}"
_ALERT_TEXT = ("identifier", "sender", "sent", "status", "msgType", "scope", "note")
_INFO_TEXT = (
    "language",
    "event",
    "urgency",
    "severity",
    "certainty",
    "effective",
    "onset",
    "expires",
    "senderName",
    "headline",
    "description",
    "instruction",
)


class CapError(ValueError):
    """A message that is not usable CAP 1.2; ``reason`` names the element."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CapRefused(ValueError):
    """A CAP message the hub does not accept: ``field`` names the CloudEvents
    attribute or data element (``datacontenttype``, ``data``, ``data.msgType``...)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def accept_cap(content_type: str | None, data: object) -> CapAlert:
    """The alert carried as CloudEvents data, if the hub accepts it.

    Accepted: CAP 1.2 XML text under a CAP media type (or none), of status
    ``Actual``. An ``Alert`` needs an ``<info><area>`` to be placed in the
    district. ``Update`` and ``Cancel`` need ``<references>``; they follow the
    messages they reference, so an area is optional for them — emergency systems
    send a bare Cancel that way (valid CAP 1.2: ``<info>`` is optional).
    Refused with :class:`CapRefused`: anything else, naming the field."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media and media not in CAP_CONTENT_TYPES:
        raise CapRefused(
            "datacontenttype", f"{media[:64]!r} is not CAP XML (use application/cap+xml)"
        )
    if not isinstance(data, str):
        raise CapRefused("data", "CAP 1.2 XML text is required")
    try:
        alert = parse_cap(data)
    except CapError as exc:
        raise CapRefused("data", exc.reason) from exc
    refusal = cap_refusal(alert)
    if refusal is not None:
        raise CapRefused(*refusal)
    return alert


def cap_refusal(alert: CapAlert) -> tuple[str, str] | None:
    """Why a well-formed CAP message opens or changes no case, as ``(field, reason)``."""
    if alert.msg_type in ("Ack", "Error"):
        return "data.msgType", f"an {alert.msg_type} message reports no incident"
    if alert.status != "Actual":
        return "data.status", f"only Actual alerts open cases, not {alert.status}"
    if alert.msg_type in ("Update", "Cancel"):
        if not alert.references:
            return "data.references", f"required for msgType {alert.msg_type}"
        return None
    if not any(info.areas for info in alert.info):
        return "data.area", "the alert has no <info><area> to place it in the district"
    return None


def follows_references_only(alert: CapAlert) -> bool:
    """An Update or Cancel with no area: it is placed where the alerts it
    references are, not by an area of its own."""
    return alert.msg_type in ("Update", "Cancel") and not any(info.areas for info in alert.info)


def parse_cap(xml: str | bytes) -> CapAlert:
    """The alert in a CAP 1.2 document. Raises :class:`CapError` with a reason."""
    size = len(xml.encode("utf-8")) if isinstance(xml, str) else len(xml)
    if size > MAX_CAP_BYTES:
        raise CapError(f"xml: {size} bytes, more than the {MAX_CAP_BYTES} allowed")
    if not xml.strip():
        raise CapError("xml: empty document")
    root = _parse_xml(xml)
    namespace, local = _split_tag(root.tag)
    if local != "alert":
        raise CapError(f"xml: the root element must be a CAP <alert>, not <{local[:64]}>")
    if namespace != CAP_NAMESPACE:
        raise CapError(
            f"namespace: {namespace[:128] or '(none)'!r} is not CAP 1.2 (expected {CAP_NAMESPACE})"
        )
    try:
        return CapAlert.model_validate(_alert(root))
    except ValidationError as exc:
        raise CapError(describe_validation_error(exc)) from exc


def _parse_xml(xml: str | bytes) -> Element:
    try:
        # CAP has no DTD: refuse any DOCTYPE, and with it every entity trick.
        root: Element = SafeET.fromstring(
            xml, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except SafeET.DTDForbidden as exc:
        raise CapError(
            "xml: DOCTYPE refused (CAP has no DTD; entities and external references "
            "are not allowed)"
        ) from exc
    except SafeET.EntitiesForbidden as exc:
        raise CapError(f"xml: entity declaration {exc.name!r} refused") from exc
    except SafeET.ExternalReferenceForbidden as exc:
        raise CapError("xml: external reference refused") from exc
    except ParseError as exc:
        raise CapError(f"xml: not well-formed ({exc})") from exc
    except ValueError as exc:  # any other defusedxml refusal
        raise CapError(f"xml: refused ({type(exc).__name__})") from exc
    return root


def _split_tag(tag: str) -> tuple[str, str]:
    """``(namespace, local name)`` of an ElementTree tag ``{ns}local``."""
    if tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        return namespace, local
    return "", tag


def _children(parent: Element, name: str) -> list[Element]:
    return parent.findall(_NS + name)


def _text(parent: Element, name: str, where: str) -> str | None:
    found = _children(parent, name)
    if len(found) > 1:
        raise CapError(f"{where}{name}: appears {len(found)} times, at most once allowed")
    if not found:
        return None
    return (found[0].text or "").strip()


def _texts(parent: Element, name: str) -> list[str]:
    return [(child.text or "").strip() for child in _children(parent, name)]


def _put_texts(target: dict[str, Any], parent: Element, names: tuple[str, ...], where: str) -> None:
    for name in names:
        value = _text(parent, name, where)
        if value is not None:
            target[name] = value


def _alert(root: Element) -> dict[str, Any]:
    alert: dict[str, Any] = {}
    _put_texts(alert, root, _ALERT_TEXT, "")
    references = _text(root, "references", "")
    if references is not None:
        alert["references"] = [_reference(item) for item in references.split()]
    alert["info"] = [_info(info, f"info.{n}.") for n, info in enumerate(_children(root, "info"))]
    return alert


def _reference(item: str) -> dict[str, str]:
    parts = item.split(",")
    if len(parts) != 3 or not all(parts):
        raise CapError(f"references: {item[:80]!r} is not sender,identifier,sent")
    sender, identifier, sent = parts
    return {"sender": sender, "identifier": identifier, "sent": sent}


def _info(element: Element, where: str) -> dict[str, Any]:
    info: dict[str, Any] = {"category": _texts(element, "category")}
    _put_texts(info, element, _INFO_TEXT, where)
    info["area"] = [
        _area(area, f"{where}area.{n}.") for n, area in enumerate(_children(element, "area"))
    ]
    return info


def _area(element: Element, where: str) -> dict[str, Any]:
    area: dict[str, Any] = {}
    _put_texts(area, element, ("areaDesc",), where)
    area["polygons"] = [
        _polygon(text, f"{where}polygon.{n}") for n, text in enumerate(_texts(element, "polygon"))
    ]
    area["circles"] = [
        _circle(text, f"{where}circle.{n}") for n, text in enumerate(_texts(element, "circle"))
    ]
    area["geocodes"] = [
        {
            "valueName": _text(geocode, "valueName", f"{where}geocode.{n}.") or "",
            "value": _text(geocode, "value", f"{where}geocode.{n}.") or "",
        }
        for n, geocode in enumerate(_children(element, "geocode"))
    ]
    return area


def _pair(text: str, where: str) -> tuple[float, float]:
    lat_text, comma, lon_text = text.partition(",")
    try:
        if not comma:
            raise ValueError
        lat, lon = float(lat_text), float(lon_text)
    except ValueError:
        raise CapError(f"{where}: {text[:40]!r} is not a lat,lon pair") from None
    if not (math.isfinite(lat) and math.isfinite(lon)):
        raise CapError(f"{where}: {text[:40]!r} is not a finite lat,lon pair")
    return lat, lon


def _polygon(text: str, where: str) -> list[tuple[float, float]]:
    tokens = text.split()
    if len(tokens) > MAX_CAP_POLYGON_POINTS:
        raise CapError(f"{where}: more than {MAX_CAP_POLYGON_POINTS} points")
    return [_pair(token, where) for token in tokens]


def _circle(text: str, where: str) -> dict[str, float]:
    tokens = text.split()
    if len(tokens) != 2:
        raise CapError(f"{where}: {text[:60]!r} is not 'lat,lon radius_km'")
    lat, lon = _pair(tokens[0], where)
    try:
        radius = float(tokens[1])
    except ValueError:
        raise CapError(f"{where}: radius {tokens[1][:20]!r} is not a number") from None
    return {"lat": lat, "lon": lon, "radius_km": radius}
