"""A CAP 1.2 alert (``org.gridhub.cap.alert``): accepted by the hub's one CAP rule
(:func:`schemas.cap.accept_cap`), its area placed on every grid it touches.

What the case agent reads in ``Report.attributes``:

* ``fold_key`` — ``cap:<sender>:<identifier>``: later messages that reference
  this one find its case through it;
* ``refers_to`` — Update/Cancel: the fold keys of the alerts in ``<references>``;
* ``cancel`` / ``cancel_reason`` — Cancel;
* ``severity`` / ``urgency`` / ``certainty`` — CAP values, verbatim;
* ``grid_codes`` — every grid the alert's area touches.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import shapely
from shapely import affinity
from shapely.geometry import Point, Polygon
from shapely.geometry.base import BaseGeometry

from routing.district import District
from schemas.cap import CapRefused, accept_cap
from schemas.envelope import Envelope
from schemas.reports import GRID_CODE_PATTERN, GeoPoint, Report
from schemas.sources import CapAlert, CapArea, CapInfo
from streams.logic.intake.common import (
    IntakeError,
    aware,
    build_report,
    clip,
    derived_report_id,
)

CANCELLED_BY_SENDER = "cancelled by sender"

_GRID_CODE = re.compile(GRID_CODE_PATTERN)
_KM_PER_DEGREE_LAT = 110.574
_KM_PER_DEGREE_LON_AT_EQUATOR = 111.320


def cap_fold_key(sender: str, identifier: str) -> str:
    return f"cap:{sender}:{identifier}"


def read_alert(envelope: Envelope) -> CapAlert:
    """The alert the event carries (structured mode: a JSON string; binary mode:
    the raw value), if the hub accepts it; a refusal names its field."""
    try:
        return accept_cap(envelope.datacontenttype, envelope.data)
    except CapRefused as refused:
        raise IntakeError(f"{refused.field}: {refused.reason}") from refused


def normalise_cap(envelope: Envelope, district: District, received_at: datetime) -> Report:
    """Alerts fold on ``cap:<sender>:<identifier>``; Update and Cancel refer to
    earlier alerts through ``refers_to``; the area is placed on grids."""
    alert = read_alert(envelope)
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
        attributes["cancel_reason"] = clip(
            alert.note or info.description or info.headline or CANCELLED_BY_SENDER, 500
        )
    text = "\n".join(part for part in (info.headline, info.description) if part)
    return build_report(
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
