"""The data of the non-grid inbound event types (DESIGN.md §5): a 数字城管 case
(``org.gridhub.citymgmt.case``), an IoT alarm (``org.gridhub.sensor.alarm``) and the
parsed CAP 1.2 subset GridHub uses (``org.gridhub.cap.alert``; the XML itself is
read by :func:`schemas.cap.parse_cap`).

Every string has a size limit and unknown fields are refused, so a bad record is
named field by field in its DLQ reason. No I/O.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.reports import GRID_CODE_PATTERN, MAX_DESCRIPTION, GeoPoint, Reporter

CAP_NAMESPACE = "urn:oasis:names:tc:emergency:cap:1.2"

# Limits of the CAP subset (a message past them is refused, not cut).
MAX_CAP_INFOS = 16
MAX_CAP_AREAS = 32
MAX_CAP_SHAPES = 32  # polygons, and circles, per area
MAX_CAP_POLYGON_POINTS = 2000
MAX_CAP_GEOCODES = 64
MAX_CAP_REFERENCES = 64
MAX_CAP_TEXT = 8000

# CAP 1.2 §3.2.1: identifier and sender carry no spaces, commas, `<` or `&`.
_CAP_ID_PATTERN = r"^[^\s,<&]+$"


def _place_required(location: GeoPoint | None, grid_code: str | None) -> None:
    if location is None and grid_code is None:
        raise ValueError("location or grid_code is required")


# --- 数字城管 -------------------------------------------------------------------


class CitymgmtCase(BaseModel):
    """A case of the digital city management (数字城管) platform, as it publishes it.

    ``category_code`` is the platform's own 部件/事件 code; the demo table
    (``routing/data/citymgmt_codes.yaml``) uses a synthetic 4-digit scheme
    (2-digit group + 2-digit subclass, optionally a 2-digit detail: ``010101``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    case_number: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{3,39}$",
        description="the platform's case number (案卷编号); one number is one report",
    )
    category_code: str = Field(
        pattern=r"^\d{4}(\d{2})?$",
        description="the platform's 部件/事件 code: 4 digits (group + subclass) or 6 (+ detail)",
    )
    kind: Literal["component", "event"] = Field(
        description="部件 (component: a fixed public facility) or 事件 (event: something happening)"
    )
    description: str = Field(min_length=1, max_length=MAX_DESCRIPTION, description="case text")
    location: GeoPoint | None = Field(default=None, description="where; gcj02 is converted")
    grid_code: str | None = Field(
        default=None, pattern=GRID_CODE_PATTERN, description="15-digit unit-grid code"
    )
    occurred_at: datetime = Field(description="when the problem was found (发现时间)")
    reporter: Reporter | None = Field(
        default=None, description="who reported it (监督员 or citizen); personal data"
    )
    status: str | None = Field(
        default=None, max_length=32, description="the platform's own case status, verbatim"
    )

    @model_validator(mode="after")
    def _needs_a_place(self) -> CitymgmtCase:
        _place_required(self.location, self.grid_code)
        return self


# --- IoT sensors ----------------------------------------------------------------


class SensorAlarm(BaseModel):
    """An IoT sensor alarm: a reading that crossed its threshold (or the device says so)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    device_id: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$",
        description="the device; alarms of one device fold into one live case",
    )
    metric: str = Field(
        pattern=r"^[a-z][a-z0-9_]{0,63}$",
        description="what is measured (routing/data/sensor_metrics.yaml), e.g. gas_ppm",
    )
    reading: float = Field(allow_inf_nan=False, description="the measured value")
    threshold: float = Field(allow_inf_nan=False, description="the alarm threshold")
    unit: str = Field(min_length=1, max_length=16, description="unit of reading and threshold")
    location: GeoPoint | None = Field(default=None, description="where the device is")
    grid_code: str | None = Field(
        default=None, pattern=GRID_CODE_PATTERN, description="15-digit unit-grid code"
    )
    occurred_at: datetime = Field(description="time of the reading")
    message: str | None = Field(
        default=None, min_length=1, max_length=500, description="the device's own alarm text"
    )

    @model_validator(mode="after")
    def _needs_a_place(self) -> SensorAlarm:
        _place_required(self.location, self.grid_code)
        return self


# --- CAP 1.2 --------------------------------------------------------------------

CapStatus = Literal["Actual", "Exercise", "System", "Test", "Draft"]
CapMsgType = Literal["Alert", "Update", "Cancel", "Ack", "Error"]
CapScope = Literal["Public", "Restricted", "Private"]
CapCategory = Literal[
    "Geo",
    "Met",
    "Safety",
    "Security",
    "Rescue",
    "Fire",
    "Health",
    "Env",
    "Transport",
    "Infra",
    "CBRNE",
    "Other",
]
CapUrgency = Literal["Immediate", "Expected", "Future", "Past", "Unknown"]
CapSeverity = Literal["Extreme", "Severe", "Moderate", "Minor", "Unknown"]
CapCertainty = Literal["Observed", "Likely", "Possible", "Unlikely", "Unknown"]

LatLonPair = tuple[float, float]

_CAP_CONFIG = ConfigDict(
    extra="forbid",
    frozen=True,
    validate_by_name=True,
    validate_by_alias=True,
    serialize_by_alias=True,
)


def _check_pair(pair: LatLonPair) -> None:
    lat, lon = pair
    if not (math.isfinite(lat) and math.isfinite(lon)):
        raise ValueError("coordinates must be finite numbers")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError(f"{lat},{lon} is not a WGS84 lat,lon")


class CapCircle(BaseModel):
    """``<circle>``: a centre point and a radius."""

    model_config = _CAP_CONFIG

    lat: float = Field(ge=-90, le=90, allow_inf_nan=False, description="WGS84 latitude")
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False, description="WGS84 longitude")
    radius_km: float = Field(ge=0, le=5000, allow_inf_nan=False, description="radius, kilometres")


class CapGeocode(BaseModel):
    """``<geocode>``: a named area code. Only a 15-digit unit-grid code is used."""

    model_config = _CAP_CONFIG

    value_name: str = Field(
        alias="valueName", min_length=1, max_length=64, description="the code system"
    )
    value: str = Field(min_length=1, max_length=128, description="the area's code in it")


class CapArea(BaseModel):
    """``<area>``: polygons are rings of WGS84 ``(lat, lon)`` pairs, closed (first = last)."""

    model_config = _CAP_CONFIG

    area_desc: str = Field(alias="areaDesc", min_length=1, max_length=1024, description="areaDesc")
    polygons: list[list[LatLonPair]] = Field(
        default_factory=list,
        max_length=MAX_CAP_SHAPES,
        description="each a closed ring of at least 4 (lat, lon) pairs",
    )
    circles: list[CapCircle] = Field(
        default_factory=list, max_length=MAX_CAP_SHAPES, description="circles, WGS84"
    )
    geocodes: list[CapGeocode] = Field(
        default_factory=list, max_length=MAX_CAP_GEOCODES, description="named area codes"
    )

    @field_validator("polygons")
    @classmethod
    def _closed_rings(cls, polygons: list[list[LatLonPair]]) -> list[list[LatLonPair]]:
        for n, ring in enumerate(polygons):
            if not 4 <= len(ring) <= MAX_CAP_POLYGON_POINTS:
                raise ValueError(
                    f"polygon {n}: {len(ring)} points, needs 4 to {MAX_CAP_POLYGON_POINTS}"
                )
            for pair in ring:
                _check_pair(pair)
            if ring[0] != ring[-1]:
                raise ValueError(f"polygon {n}: not closed (first point must equal the last)")
        return polygons


class CapInfo(BaseModel):
    """``<info>``: what the alert is about, and where."""

    model_config = _CAP_CONFIG

    language: str = Field(
        default="en-US", max_length=35, description="RFC 3066 tag; a zh-* info is preferred"
    )
    categories: list[CapCategory] = Field(
        alias="category", min_length=1, max_length=12, description="CAP categories"
    )
    event: str = Field(min_length=1, max_length=256, description="the type of event, free text")
    urgency: CapUrgency = Field(description="CAP urgency, verbatim")
    severity: CapSeverity = Field(description="CAP severity, verbatim (raises priority)")
    certainty: CapCertainty = Field(description="CAP certainty, verbatim")
    effective: datetime | None = Field(default=None, description="when the information applies")
    onset: datetime | None = Field(default=None, description="expected start of the event")
    expires: datetime | None = Field(default=None, description="when the information expires")
    sender_name: str | None = Field(
        default=None, alias="senderName", max_length=256, description="the issuing agency"
    )
    headline: str | None = Field(default=None, max_length=512, description="brief text")
    description: str | None = Field(default=None, max_length=MAX_CAP_TEXT, description="details")
    instruction: str | None = Field(
        default=None, max_length=MAX_CAP_TEXT, description="recommended action"
    )
    areas: list[CapArea] = Field(
        alias="area", default_factory=list, max_length=MAX_CAP_AREAS, description="where"
    )


class CapReference(BaseModel):
    """One entry of ``<references>``: an earlier message, ``sender,identifier,sent``."""

    model_config = _CAP_CONFIG

    sender: str = Field(
        min_length=1, max_length=256, pattern=_CAP_ID_PATTERN, description="earlier sender"
    )
    identifier: str = Field(
        min_length=1, max_length=256, pattern=_CAP_ID_PATTERN, description="earlier identifier"
    )
    sent: str = Field(min_length=1, max_length=64, description="as written by the sender")


class CapAlert(BaseModel):
    """``<alert>``: the parsed subset of an OASIS CAP 1.2 message that GridHub uses."""

    model_config = _CAP_CONFIG

    identifier: str = Field(
        min_length=1, max_length=256, pattern=_CAP_ID_PATTERN, description="unique per sender"
    )
    sender: str = Field(
        min_length=1, max_length=256, pattern=_CAP_ID_PATTERN, description="the originator"
    )
    sent: datetime = Field(description="with its time zone, as CAP requires")
    status: CapStatus = Field(description="only Actual alerts open cases")
    msg_type: CapMsgType = Field(alias="msgType", description="Alert, Update, Cancel, Ack, Error")
    scope: CapScope = Field(description="intended distribution")
    note: str | None = Field(
        default=None, max_length=MAX_CAP_TEXT, description="e.g. why cancelled"
    )
    references: list[CapReference] = Field(
        default_factory=list,
        max_length=MAX_CAP_REFERENCES,
        description="earlier messages this one updates or cancels",
    )
    info: list[CapInfo] = Field(
        default_factory=list, max_length=MAX_CAP_INFOS, description="one per language/event"
    )

    @field_validator("sent")
    @classmethod
    def _with_time_zone(cls, sent: datetime) -> datetime:
        if sent.tzinfo is None:
            raise ValueError("sent must carry a time zone offset")
        return sent
