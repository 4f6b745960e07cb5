"""Collect, for the sources beside the grid network: a 数字城管 case, an IoT sensor
alarm and a CAP 1.2 alert each become the one normalised ``Report`` (DESIGN.md §2),
or an :class:`IntakeError` whose reason names the field (the intake agent writes
it to the DLQ headers).

What the case agent reads in ``Report.attributes``:

* ``fold_key`` — reports with the same key join the live case holding it
  (sensor: ``sensor:<device_id>``; CAP: ``cap:<sender>:<identifier>``);
* ``refers_to`` — CAP Update/Cancel: the fold keys of the alerts in ``<references>``;
* ``cancel`` / ``cancel_reason`` — CAP Cancel;
* ``severity`` / ``urgency`` / ``certainty`` — CAP values, verbatim;
* ``grid_codes`` — CAP: every grid the alert's area touches.

The intake vocabulary shared with ``streams.intake`` (``IntakeError``, derived
report ids, grid location) is defined here and re-exported there, so the import
goes one way only: ``streams.intake`` → ``streams.sources``. Pure functions.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import shapely
from pydantic import BaseModel, ValidationError
from shapely import affinity
from shapely.geometry import Point, Polygon
from shapely.geometry.base import BaseGeometry

from routing.district import District
from routing.geo import gcj02_to_wgs84
from routing.grids import Grid
from schemas.cap import CapError, parse_cap
from schemas.envelope import Envelope, describe_validation_error
from schemas.reports import (
    GRID_CODE_PATTERN,
    MAX_DESCRIPTION,
    GeoPoint,
    Report,
    Reporter,
    community_of,
    street_of,
)
from schemas.sources import CapAlert, CapArea, CapInfo, CitymgmtCase, SensorAlarm

# Report ids of sources that do not send their own are derived from the
# CloudEvents source + id, so the same event always maps to the same report.
REPORT_ID_NAMESPACE = uuid.UUID("6f1d3c52-6a53-4e0e-9a49-1c0a3f7d2b10")

CAP_CONTENT_TYPES = ("application/cap+xml", "application/xml", "text/xml")
CANCELLED_BY_SENDER = "cancelled by sender"

_M = TypeVar("_M", bound=BaseModel)
_GRID_CODE = re.compile(GRID_CODE_PATTERN)
_KM_PER_DEGREE_LAT = 110.574
_KM_PER_DEGREE_LON_AT_EQUATOR = 111.320


# --- shared with streams.intake ---------------------------------------------------


class IntakeError(ValueError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def derived_report_id(envelope: Envelope) -> str:
    return str(uuid.uuid5(REPORT_ID_NAMESPACE, envelope.dedup_key))


def citymgmt_report_id(case_number: str) -> str:
    """One 数字城管 case number is one report, however often the platform republishes it."""
    return str(uuid.uuid5(REPORT_ID_NAMESPACE, "citymgmt:" + case_number))


def locate_grid(
    district: District,
    location: GeoPoint | None,
    grid_code: str | None,
    located: Mapping[tuple[float, float], Grid | None] | None = None,
) -> str:
    """The grid of a report: the given code if the district has it, else point-in-polygon
    (answered from ``located``, a batch's points placed at once, when it has the point)."""
    if grid_code is not None:
        if district.grids.get(grid_code) is None:
            raise IntakeError(f"data.grid_code: {grid_code} is not a grid of this district")
        return grid_code
    if location is None:
        raise IntakeError("data: location or grid_code is required")
    point = (location.lat, location.lon)
    if located is not None and point in located:
        grid = located[point]
    else:
        grid = district.grids.locate(*point)
    if grid is None:
        raise IntakeError("data.location: outside every grid of this district")
    return grid.code


def wgs84(point: GeoPoint | None) -> GeoPoint | None:
    """A location in WGS84 (``gcj02`` converted)."""
    if point is None or point.crs == "wgs84":
        return point
    lat, lon = gcj02_to_wgs84(point.lat, point.lon)
    return GeoPoint(lat=lat, lon=lon)


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def event_time(envelope: Envelope, received_at: datetime) -> datetime:
    """The event's ``time``, else the Kafka record time (so a replay normalises alike)."""
    return aware(envelope.time) if envelope.time else received_at


def _data_model(envelope: Envelope, model: type[_M]) -> _M:
    if not isinstance(envelope.data, dict):
        raise IntakeError("data: a JSON object is required")
    try:
        return model.model_validate(envelope.data)
    except ValidationError as exc:
        raise IntakeError("data." + describe_validation_error(exc)) from exc


def _clip(text: str, limit: int = MAX_DESCRIPTION) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _report(
    envelope: Envelope,
    received_at: datetime,
    *,
    report_id: str,
    category: str,
    description: str,
    location: GeoPoint | None,
    grid_code: str,
    occurred_at: datetime,
    attributes: dict[str, Any],
    reporter: Reporter | None = None,
    external_ref: str | None = None,
) -> Report:
    submitted_by = envelope.extensions.get("submittedby")
    return Report(
        id=report_id,
        source=envelope.source,
        source_event_id=envelope.id,
        source_type=envelope.type,
        category=category,
        description=_clip(description),
        location=location,
        grid_code=grid_code,
        community_code=community_of(grid_code),
        street_code=street_of(grid_code),
        occurred_at=aware(occurred_at),
        received_at=event_time(envelope, received_at),
        submitted_by=str(submitted_by) if submitted_by else None,
        attributes=attributes,
        reporter=reporter,
        external_ref=external_ref,
    )


# --- 数字城管 ----------------------------------------------------------------------


def normalise_citymgmt(envelope: Envelope, district: District, received_at: datetime) -> Report:
    """``org.gridhub.citymgmt.case``: the platform's 部件/事件 code mapped to a category;
    the report id is derived from the case number, which is also the external ref."""
    case = _data_model(envelope, CitymgmtCase)
    row = district.sources.citymgmt(case.kind, case.category_code)
    if row is None:
        raise IntakeError(
            f"data.category_code: unknown {case.kind} code {case.category_code!r} "
            "(not in the 数字城管 code table)"
        )
    location = wgs84(case.location)
    attributes: dict[str, Any] = {
        "case_number": case.case_number,
        "citymgmt_code": case.category_code,
        "citymgmt_kind": case.kind,
        "citymgmt_name": row.name_zh,
    }
    if case.status is not None:
        attributes["citymgmt_status"] = case.status
    return _report(
        envelope,
        received_at,
        report_id=citymgmt_report_id(case.case_number),
        category=row.category,
        description=case.description,
        location=location,
        grid_code=locate_grid(district, location, case.grid_code),
        occurred_at=case.occurred_at,
        attributes=attributes,
        reporter=case.reporter,
        external_ref=case.case_number,
    )


# --- IoT sensors ---------------------------------------------------------------------


def normalise_sensor(envelope: Envelope, district: District, received_at: datetime) -> Report:
    """``org.gridhub.sensor.alarm``: the metric mapped to a category; alarms of one
    device fold into its live case (``fold_key`` ``sensor:<device_id>``)."""
    alarm = _data_model(envelope, SensorAlarm)
    metric = district.sources.sensor_metric(alarm.metric)
    if metric is None:
        raise IntakeError(f"data.metric: unknown metric {alarm.metric!r}")
    location = wgs84(alarm.location)
    # The device id stays in the attributes: in the text, an id such as "gas-0042"
    # would read as a priority keyword.
    description = alarm.message or (
        f"{metric.name_zh}：{alarm.reading:g} {alarm.unit}（阈值 {alarm.threshold:g} {alarm.unit}）"
    )
    return _report(
        envelope,
        received_at,
        report_id=derived_report_id(envelope),
        category=metric.category,
        description=description,
        location=location,
        grid_code=locate_grid(district, location, alarm.grid_code),
        occurred_at=alarm.occurred_at,
        attributes={
            "fold_key": f"sensor:{alarm.device_id}",
            "device_id": alarm.device_id,
            "metric": alarm.metric,
            "reading": alarm.reading,
            "threshold": alarm.threshold,
            "unit": alarm.unit,
            "above_threshold": alarm.reading > alarm.threshold,
        },
    )


# --- CAP 1.2 -----------------------------------------------------------------------


def cap_fold_key(sender: str, identifier: str) -> str:
    return f"cap:{sender}:{identifier}"


def normalise_cap(envelope: Envelope, district: District, received_at: datetime) -> Report:
    """``org.gridhub.cap.alert``: CAP 1.2 XML (structured mode: a JSON string; binary
    mode: the raw value). Alerts fold on ``cap:<sender>:<identifier>``; Update and
    Cancel refer to earlier alerts through ``refers_to``; the area is placed on grids."""
    alert = _cap_alert(envelope)
    if alert.msg_type in ("Ack", "Error"):
        raise IntakeError(f"data.msgType: an {alert.msg_type} message reports no incident")
    if alert.status != "Actual":
        raise IntakeError(f"data.status: only Actual alerts open cases, not {alert.status}")
    if alert.msg_type in ("Update", "Cancel") and not alert.references:
        raise IntakeError(f"data.references: required for msgType {alert.msg_type}")
    info = _primary_info(alert.info)
    areas = [area for each in alert.info for area in each.areas]
    if info is None or not areas:
        raise IntakeError("data.area: the alert has no <area> to place it in this district")
    geometry = _area_geometry(areas)
    grid_codes = _touched_grids(district, geometry, areas)
    if not grid_codes:
        raise IntakeError("data.area: outside every grid of this district")
    location, grid_code = _centre(district, geometry, grid_codes)
    attributes: dict[str, Any] = {
        "fold_key": cap_fold_key(alert.sender, alert.identifier),
        "severity": info.severity,
        "urgency": info.urgency,
        "certainty": info.certainty,
        "grid_codes": grid_codes,
        "cap_msg_type": alert.msg_type,
        "cap_sender": alert.sender,
        "cap_identifier": alert.identifier,
        "cap_event": info.event,
        "cap_categories": list(info.categories),
        "cap_area_desc": "; ".join(dict.fromkeys(area.area_desc for area in areas)),
    }
    if info.expires is not None:
        attributes["cap_expires"] = aware(info.expires).isoformat()
    if alert.msg_type in ("Update", "Cancel"):
        attributes["refers_to"] = list(
            dict.fromkeys(cap_fold_key(ref.sender, ref.identifier) for ref in alert.references)
        )
    if alert.msg_type == "Cancel":
        attributes["cancel"] = True
        attributes["cancel_reason"] = _clip(
            alert.note or info.description or info.headline or CANCELLED_BY_SENDER, 500
        )
    text = "\n".join(part for part in (info.headline, info.description) if part)
    return _report(
        envelope,
        received_at,
        report_id=derived_report_id(envelope),
        category=district.sources.cap_category(
            (info.event, info.headline, info.description), info.categories
        ),
        description=text or info.event,
        location=location,
        grid_code=grid_code,
        occurred_at=info.onset or info.effective or alert.sent,
        attributes=attributes,
        external_ref=alert.identifier,
    )


def _cap_alert(envelope: Envelope) -> CapAlert:
    content_type = (envelope.datacontenttype or "").split(";", 1)[0].strip().lower()
    if content_type and content_type not in CAP_CONTENT_TYPES:
        raise IntakeError(
            f"datacontenttype: {content_type[:64]!r} is not CAP XML (use application/cap+xml)"
        )
    if not isinstance(envelope.data, str):
        raise IntakeError("data: CAP 1.2 XML text is required")
    try:
        return parse_cap(envelope.data)
    except CapError as exc:
        raise IntakeError("data." + exc.reason) from exc


def _primary_info(infos: list[CapInfo]) -> CapInfo | None:
    """The Chinese ``<info>`` if there is one, else the first."""
    for info in infos:
        if info.language.lower().startswith("zh"):
            return info
    return infos[0] if infos else None


def _circle(lat: float, lon: float, radius_km: float) -> BaseGeometry:
    if radius_km == 0:
        return Point(lon, lat)
    d_lat = radius_km / _KM_PER_DEGREE_LAT
    cos_lat = max(math.cos(math.radians(lat)), 1e-6)
    d_lon = radius_km / (_KM_PER_DEGREE_LON_AT_EQUATOR * cos_lat)
    disc = Point(lon, lat).buffer(1.0, quad_segs=16)
    return affinity.scale(disc, xfact=d_lon, yfact=d_lat, origin=(lon, lat))


def _area_geometry(areas: Iterable[CapArea]) -> BaseGeometry:
    """The union of every polygon and circle (WGS84, lon/lat); empty for geocodes only."""
    shapes: list[BaseGeometry] = []
    for area in areas:
        for ring in area.polygons:
            polygon = Polygon([(lon, lat) for lat, lon in ring])
            shapes.append(polygon if polygon.is_valid else shapely.make_valid(polygon))
        shapes.extend(_circle(c.lat, c.lon, c.radius_km) for c in area.circles)
    return shapely.union_all(shapes)


def _touched_grids(
    district: District, geometry: BaseGeometry, areas: Iterable[CapArea]
) -> list[str]:
    codes: set[str] = set()
    if not geometry.is_empty:
        codes.update(grid.code for grid in district.grids.grids_touching(geometry))
    for area in areas:
        for geocode in area.geocodes:
            value = geocode.value.strip()
            if _GRID_CODE.match(value) and value in district.grids:
                codes.add(value)
    return sorted(codes)


def _centre(
    district: District, geometry: BaseGeometry, grid_codes: list[str]
) -> tuple[GeoPoint | None, str]:
    """The area's centroid and its grid if the area touches that grid, else the lowest code."""
    if geometry.is_empty:
        return None, grid_codes[0]
    centroid = geometry.centroid
    location = GeoPoint(lat=centroid.y, lon=centroid.x)
    grid = district.grids.locate(centroid.y, centroid.x)
    if grid is not None and grid.code in grid_codes:
        return location, grid.code
    return location, grid_codes[0]
