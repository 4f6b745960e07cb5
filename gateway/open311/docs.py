"""What the OpenAPI document says of ``/open311/v2/``: the response models (the
answers themselves are rendered by :mod:`gateway.open311.render`), the responses
of each route in both formats, and the form ``POST requests`` reads itself."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from gateway.open311.requests import FORM_CONTENT_TYPE
from schemas.reports import MAX_DESCRIPTION


class ErrorItem(BaseModel):
    code: int = Field(description="usually the HTTP status; 503 for a temporary failure")
    description: str


class Endpoint(BaseModel):
    specification: str
    url: str
    changeset: str
    type: str = Field(description="production or test")
    formats: list[str]


class Discovery(BaseModel):
    changeset: str
    contact: str
    key_service: str
    endpoints: list[Endpoint]


class Service(BaseModel):
    service_code: str
    service_name: str
    description: str
    metadata: bool
    type: str = Field(description="realtime, batch or blackbox (ours: batch)")
    keywords: str
    group: str


class AttributeValue(BaseModel):
    key: str
    name: str


class Attribute(BaseModel):
    variable: bool
    code: str
    datatype: str
    required: bool
    datatype_description: str | None
    order: int
    description: str
    values: list[AttributeValue] | None = None


class ServiceDefinition(BaseModel):
    service_code: str
    attributes: list[Attribute]


class RequestCreated(BaseModel):
    token: str = Field(description="GET tokens/{token} gives the service_request_id")
    service_notice: str | None
    account_id: str | None


class TokenAnswer(BaseModel):
    service_request_id: str
    token: str


class ServiceRequest(BaseModel):
    service_request_id: str
    status: str = Field(description="open or closed")
    status_notes: str | None
    service_name: str
    service_code: str
    description: str | None
    agency_responsible: str | None
    service_notice: str | None
    requested_datetime: str | None = Field(description="ISO 8601 with offset")
    updated_datetime: str | None
    expected_datetime: str | None
    address: str | None
    address_id: str | None
    zipcode: str | None
    lat: float | None
    long: float | None
    media_url: str | None


_XML = {"text/xml": {"schema": {"type": "string", "description": "the same document as XML"}}}
_ERROR_DOC = {"model": list[ErrorItem], "content": _XML}


def responses(model: Any, *extra: int) -> dict[int | str, dict[str, Any]]:
    docs: dict[int | str, dict[str, Any]] = {
        200: {"model": model, "content": _XML, "description": "JSON or XML, by the extension"},
        400: {**_ERROR_DOC, "description": "invalid or missing argument"},
        "4XX": {**_ERROR_DOC, "description": "GeoReport v2 errors"},
    }
    for status in extra:
        docs[status] = {**_ERROR_DOC, "description": _STATUS_TEXT[status]}
    return docs


_STATUS_TEXT = {
    403: "api_key missing, invalid, or not allowed to do this",
    404: "no such jurisdiction, service, request or token",
}


_FORM_FIELDS: dict[str, dict[str, Any]] = {
    "api_key": {"type": "string", "description": "a token of role system or grid_worker"},
    "jurisdiction_id": {"type": "string"},
    "service_code": {"type": "string", "description": "from GET services"},
    "lat": {"type": "number", "description": "WGS84 (or GCJ-02 with attribute[crs]=gcj02)"},
    "long": {"type": "number"},
    "address_string": {
        "type": "string",
        "description": "placed only if it names one of our grids (name or 15-digit code)",
    },
    "address_id": {"type": "string", "description": "a 15-digit unit-grid code"},
    "email": {"type": "string", "description": "accepted, not stored"},
    "device_id": {"type": "string", "description": "accepted, not stored"},
    "account_id": {"type": "string", "description": "echoed in the answer"},
    "first_name": {"type": "string"},
    "last_name": {"type": "string"},
    "phone": {"type": "string"},
    "description": {"type": "string", "maxLength": MAX_DESCRIPTION},
    "media_url": {"type": "string", "description": "accepted, not stored"},
    "attribute[occurred_at]": {"type": "string", "description": "ISO 8601 with offset"},
    "attribute[grid_code]": {"type": "string", "description": "15-digit unit-grid code"},
    "attribute[crs]": {"type": "string", "enum": ["wgs84", "gcj02"]},
}
POST_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        FORM_CONTENT_TYPE: {
            "schema": {
                "type": "object",
                "properties": _FORM_FIELDS,
                "required": ["api_key", "service_code"],
            }
        }
    },
}
