"""Open311 GeoReport v2 shapes: our categories as services, our cases as service
requests, and both output formats (XML, required by the spec, and JSON, its
Spark-convention mapping of the XML).

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

A service request is a case: ``open`` while the case is live (open, dispatched,
in progress, resolved awaiting verification), ``closed`` once it is closed,
rejected or merged, with ``status_notes`` saying which and why.
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

from gateway.ports import CategoryInfo, DistrictData

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
JSON_MEDIA_TYPE = "application/json; charset=utf-8"
XML_MEDIA_TYPE = "text/xml; charset=utf-8"
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
SERVICE_TYPE = "batch"  # POST answers a token; tokens/{token} gives the case id

CLOSED_STATES = frozenset({"closed", "rejected", "merged"})
OPEN_STATES = frozenset({"open", "dispatched", "in_progress", "resolved"})
KIND_GROUPS = {"component": "部件 (component)", "event": "事件 (event)"}

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


def w3c(moment: datetime | None, tz: ZoneInfo) -> str | None:
    """ISO 8601 (the W3C profile) with the offset of ``tz``, to the second."""
    if moment is None:
        return None
    return moment.astimezone(tz).isoformat(timespec="seconds")


# -- rendering ---------------------------------------------------------------------


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


# -- services ------------------------------------------------------------------------


def service(category: CategoryInfo) -> dict[str, Any]:
    return {
        "service_code": category.code,
        "service_name": category.name_zh,
        "description": (
            f"{category.name_en}. {KIND_GROUPS.get(category.kind, category.kind)}; "
            f"default priority {category.default_priority}."
        ),
        "metadata": True,
        "type": SERVICE_TYPE,
        "keywords": ", ".join(dict.fromkeys([category.name_en, *category.keywords])),
        "group": KIND_GROUPS.get(category.kind, category.kind),
    }


def service_definition(category: CategoryInfo) -> dict[str, Any]:
    """The attributes every service takes: when, which grid, which coordinate system."""
    return {
        "service_code": category.code,
        "attributes": [
            {
                "variable": True,
                "code": "occurred_at",
                "datatype": "datetime",
                "required": False,
                "datatype_description": "ISO 8601 with an offset, e.g. 2026-08-15T14:30:00+08:00",
                "order": 1,
                "description": "When was the problem found? (发现时间; default: now)",
            },
            {
                "variable": True,
                "code": "grid_code",
                "datatype": "string",
                "required": False,
                "datatype_description": "15 digits, e.g. 990101001001001",
                "order": 2,
                "description": (
                    "The unit grid (网格编码), if known: places the request when no lat/long "
                    "is sent (address_id is read the same way)"
                ),
            },
            {
                "variable": True,
                "code": "crs",
                "datatype": "singlevaluelist",
                "required": False,
                "datatype_description": None,
                "order": 3,
                "description": "Coordinate system of lat/long (default WGS84)",
                "values": [
                    {"key": "wgs84", "name": "WGS84 (GPS)"},
                    {"key": "gcj02", "name": "GCJ-02 (Chinese phone map SDKs)"},
                ],
            },
            {
                "variable": False,
                "code": "default_priority",
                "datatype": "string",
                "required": False,
                "datatype_description": None,
                "order": 4,
                "description": (
                    f"{category.name_zh} ({category.name_en}) is handled at priority "
                    f"{category.default_priority} unless the report says it is worse"
                ),
            },
        ],
    }


ATTRIBUTE_CODES = frozenset({"occurred_at", "grid_code", "crs"})


# -- service requests -------------------------------------------------------------------


def status_of(state: str) -> str:
    return "closed" if state in CLOSED_STATES else "open"


def status_notes(case: Mapping[str, Any], agency: str | None) -> str:
    state = str(case.get("state"))
    who = agency or "责任部门"
    match state:
        case "open":
            return "已受理，等待分拨 (received, awaiting triage)"
        case "dispatched":
            return f"已派遣至{who} (dispatched to the responsible department)"
        case "in_progress":
            return f"{who}正在处置 (being handled)"
        case "resolved":
            return "已处置，待现场核查 (resolved, awaiting on-site verification)"
        case "closed":
            return "已核查结案 (verified and closed)"
        case "rejected":
            reason = case.get("reason")
            return f"不予立案：{reason} (rejected)" if reason else "不予立案 (rejected)"
        case "merged":
            into = case.get("merged_into")
            return f"重复事项，已并入 {into} (duplicate of service request {into})"
    return state


def service_request(
    case: Mapping[str, Any], district: DistrictData, tz: ZoneInfo
) -> dict[str, Any]:
    code = str(case.get("category"))
    category = district.taxonomy.get(code)
    lead = case.get("lead_department")
    department = district.departments.get(str(lead)) if lead else None
    agency = department.name_zh if department is not None else (str(lead) if lead else None)
    grid_code = str(case.get("grid_code") or "")
    grid = district.grids.get(grid_code) if grid_code else None
    address = (
        f"{grid.name}, {grid.community_name}, {grid.street_name}" if grid is not None else None
    )
    location = case.get("location") or {}
    state = str(case.get("state"))
    closed = state in CLOSED_STATES
    updated = case.get("closed_at") if closed and case.get("closed_at") else case.get("updated_at")
    return {
        "service_request_id": str(case.get("id")),
        "status": status_of(state),
        "status_notes": status_notes(case, agency),
        "service_name": category.name_zh if category is not None else code,
        "service_code": code,
        "description": case.get("description") or None,
        "agency_responsible": agency,
        "service_notice": f"优先级 {case.get('priority')} (priority)"
        if case.get("priority")
        else None,
        "requested_datetime": w3c(case.get("opened_at"), tz),
        "updated_datetime": w3c(updated, tz),
        "expected_datetime": None if closed else w3c(case.get("resolve_by"), tz),
        "address": address,
        "address_id": grid_code or None,
        "zipcode": None,
        "lat": location.get("lat"),
        "long": location.get("lon"),
        "media_url": None,
    }


def discovery(
    config_changeset: str,
    contact: str,
    key_service: str,
    url: str,
    endpoint_type: str,
) -> dict[str, Any]:
    return {
        "changeset": config_changeset,
        "contact": contact,
        "key_service": key_service,
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": url,
                "changeset": config_changeset,
                "type": endpoint_type,
                "formats": ["text/xml", "application/json"],
            }
        ],
    }
