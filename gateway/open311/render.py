"""The one renderer of Open311 answers, in both formats of GeoReport v2 — XML,
required by the spec, and JSON, its Spark-convention mapping of the XML — and
GeoReport v2 errors.

- XML: ``text/xml; charset=utf-8``, an XML declaration with ``encoding="UTF-8"``,
  no namespace; a list is a wrapper element whose children are named for one
  item (``<services><service>``, ``<service_requests><request>``,
  ``<errors><error>``, ``<attributes><attribute>``, ``<values><value>``,
  ``<endpoints><endpoint>``, ``<formats><format>``); ``null`` is an empty element,
  booleans are ``true``/``false``.
- JSON: ``application/json; charset=utf-8``; the root element disappears, so a
  list resource is a JSON array and ``discovery``/``service_definition`` an object.
- Datetimes: W3C ISO 8601 with the district's UTC offset, e.g.
  ``2026-08-15T14:30:00+08:00``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any
from xml.etree.ElementTree import Element, SubElement, tostring
from zoneinfo import ZoneInfo

import orjson
from fastapi.responses import Response

JSON_MEDIA_TYPE = "application/json; charset=utf-8"
XML_MEDIA_TYPE = "text/xml; charset=utf-8"
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'

# One item of each list, by the list's element name.
LIST_ITEMS = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
}
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class Format(StrEnum):
    JSON = "json"
    XML = "xml"


class Open311Error(Exception):
    """An error answered in GeoReport v2 form; ``code`` defaults to the HTTP status."""

    def __init__(
        self,
        status_code: int,
        description: str,
        *,
        code: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(description)
        self.status_code = status_code
        self.code = code if code is not None else status_code
        self.description = description
        self.headers = dict(headers or {})


def w3c(moment: datetime | None, tz: ZoneInfo) -> str | None:
    """ISO 8601 (the W3C profile) with the offset of ``tz``, to the second."""
    if moment is None:
        return None
    return moment.astimezone(tz).isoformat(timespec="seconds")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return _XML_INVALID.sub("", str(value))


def _fill(element: Element, value: Any) -> None:
    if isinstance(value, Mapping):
        for key, child in value.items():
            _append(element, str(key), child)
    else:
        element.text = _text(value)


def _append(parent: Element, name: str, value: Any) -> None:
    if isinstance(value, list | tuple):
        wrapper = SubElement(parent, name)
        item = LIST_ITEMS.get(name, "item")
        for entry in value:
            _fill(SubElement(wrapper, item), entry)
    else:
        _fill(SubElement(parent, name), value)


def to_xml(root: str, payload: Any) -> bytes:
    """The XML document of ``payload`` under the ``root`` element."""
    element = Element(root)
    if isinstance(payload, list | tuple):
        item = LIST_ITEMS[root]
        for entry in payload:
            _fill(SubElement(element, item), entry)
    else:
        _fill(element, payload)
    return (XML_DECLARATION + tostring(element, encoding="unicode")).encode("utf-8")


def render(fmt: Format, root: str, payload: Any, status_code: int = 200) -> Response:
    """``payload`` in ``fmt``: the JSON document, or the XML one under ``root``."""
    if fmt is Format.XML:
        return Response(to_xml(root, payload), status_code=status_code, media_type=XML_MEDIA_TYPE)
    return Response(orjson.dumps(payload), status_code=status_code, media_type=JSON_MEDIA_TYPE)


def errors(
    fmt: Format,
    status_code: int,
    problems: Sequence[tuple[int, str]],
    headers: Mapping[str, str] | None = None,
) -> Response:
    """GeoReport v2 errors: ``[{code, description}]`` / ``<errors><error>``."""
    response = render(
        fmt,
        "errors",
        [{"code": code, "description": description} for code, description in problems],
        status_code,
    )
    response.headers.update(headers or {})
    return response
