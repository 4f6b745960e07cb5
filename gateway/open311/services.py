"""Open311 discovery and services: where this endpoint is and what it takes, and
our categories as GeoReport v2 services (one category = one service, of type
``batch``: ``POST requests`` answers a token, ``GET tokens/{token}`` the request id)."""

from __future__ import annotations

from typing import Any

from gateway.open311.config import Open311Config
from gateway.ports import CategoryInfo

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
SERVICE_TYPE = "batch"  # POST answers a token; tokens/{token} gives the case id
KIND_GROUPS = {"component": "部件 (component)", "event": "事件 (event)"}
# The attributes every service takes (see service_definition).
ATTRIBUTE_CODES = frozenset({"occurred_at", "grid_code", "crs"})


def discovery(config: Open311Config, url: str) -> dict[str, Any]:
    """The discovery document of the endpoint at ``url``."""
    return {
        "changeset": config.changeset,
        "contact": config.contact,
        "key_service": config.key_service,
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": url,
                "changeset": config.changeset,
                "type": config.endpoint_type,
                "formats": ["text/xml", "application/json"],
            }
        ],
    }


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
