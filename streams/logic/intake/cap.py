"""A CAP 1.2 alert (``org.gridhub.cap.alert``): accepted by the hub's one CAP rule
(:func:`schemas.cap.accept_cap`), its area placed on every grid it touches.

What the case agent reads in ``Report.attributes``:

* ``fold_key`` — the ``<sender>`` and ``<identifier>`` namespaced by the
  CloudEvents source that published it (:func:`cap_fold_key`): later messages
  that reference this one find its case through it;
* ``refers_to`` — Update/Cancel: the fold keys of the alerts in ``<references>``,
  namespaced by the *publishing* source too, so a message can only ever follow
  alerts its own source published (an emergency centre's alert cannot be
  cancelled, or joined, by another system's CAP);
* ``cancel`` / ``cancel_reason`` — Cancel;
* ``references_only`` — an Update/Cancel with no area of its own (below);
* ``severity`` / ``urgency`` / ``certainty`` — CAP values, verbatim;
* ``grid_codes`` — every grid the alert's area touches.

**A reference-only Update or Cancel** (valid CAP 1.2: ``<info>`` is optional, and
emergency systems send a bare Cancel that way) has no place of its own, but the
alerts it references do. It is placed where the first of them is known to be,
asked of a :data:`ReferencePlaces` lookup the caller passes in — so its report
goes to the partition of the case it follows, and the case agent attaches or
cancels there as for any Update or Cancel. The worker's lookup is
:class:`KnownPlaces`: the case agent's global ``reference-index`` (fold key →
case and the case's grid, on every worker, surviving restarts), then the places
of the CAP messages this intake normalised itself — an alert usually passes the
same intake partition first, often in the same batch, before the case agent has
indexed it. With no referenced alert known, the message is refused
(``data.references: no alert known for ...``) and dead-lettered with that reason.
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import shapely
from shapely import affinity
from shapely.geometry import Point, Polygon
from shapely.geometry.base import BaseGeometry

from routing.district import District
from routing.provenance import CAP, natural_key
from routing.reports import aware, build_report, clip, derived_report_id
from schemas.cap import CapRefused, accept_cap, follows_references_only
from schemas.envelope import Envelope
from schemas.reports import GRID_CODE_PATTERN, GeoPoint, Report
from schemas.sources import CapAlert, CapArea, CapInfo
from streams.logic.intake.common import IntakeError

CANCELLED_BY_SENDER = "cancelled by sender"
CAP_FOLD_PREFIX = "cap:"

#: Fold key of a CAP message → the grid code of the case that holds it, if known.
ReferencePlaces = Callable[[str], str | None]

_GRID_CODE = re.compile(GRID_CODE_PATTERN)
_KM_PER_DEGREE_LAT = 110.574
_KM_PER_DEGREE_LON_AT_EQUATOR = 111.320


def cap_fold_key(source: str, sender: str, identifier: str) -> str:
    """The key of a CAP message ``sender``/``identifier`` published by ``source``."""
    return natural_key(CAP, source, sender, identifier)


class KnownPlaces:
    """Where a CAP message's case is: first ``index`` (the case agent's reference
    index: the case's own grid), then where the CAP messages seen lately were
    placed (the newest ``capacity`` kept) — the index may not have a fresh alert
    yet. A plain object the caller owns and fills with :meth:`learn`; no I/O."""

    def __init__(self, index: ReferencePlaces | None = None, capacity: int = 50_000) -> None:
        self.index = index
        self.capacity = capacity
        self._places: OrderedDict[str, str] = OrderedDict()

    def __call__(self, key: str) -> str | None:
        place = self.index(key) if self.index is not None else None
        return place or self._places.get(key)

    def learn(self, report: Report) -> None:
        """Remember where a normalised CAP message went."""
        key = str(report.attributes.get("fold_key") or "")
        if not key.startswith(CAP_FOLD_PREFIX):
            return
        self._places[key] = report.grid_code
        self._places.move_to_end(key)
        while len(self._places) > self.capacity:
            self._places.popitem(last=False)

    def __len__(self) -> int:
        return len(self._places)


def read_alert(envelope: Envelope) -> CapAlert:
    """The alert the event carries (structured mode: a JSON string; binary mode:
    the raw value), if the hub accepts it; a refusal names its field."""
    try:
        return accept_cap(envelope.datacontenttype, envelope.data)
    except CapRefused as refused:
        raise IntakeError(f"{refused.field}: {refused.reason}") from refused


def normalise_cap(
    envelope: Envelope,
    district: District,
    received_at: datetime,
    places: ReferencePlaces | None = None,
) -> Report:
    """Alerts fold on ``cap:<sender>:<identifier>``; Update and Cancel refer to
    earlier alerts through ``refers_to``; the area is placed on grids, or a
    reference-only message where ``places`` says its references are."""
    alert = read_alert(envelope)
    if follows_references_only(alert):
        return _reference_only(envelope, district, received_at, alert, places)
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
        "fold_key": cap_fold_key(envelope.source, alert.sender, alert.identifier),
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
    attributes.update(_follows(envelope.source, alert, info))
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


def _referenced(source: str, alert: CapAlert) -> list[str]:
    return list(
        dict.fromkeys(cap_fold_key(source, ref.sender, ref.identifier) for ref in alert.references)
    )


def _follows(source: str, alert: CapAlert, info: CapInfo | None) -> dict[str, Any]:
    """What an Update or Cancel says about the alerts it references (of ``source``)."""
    if alert.msg_type not in ("Update", "Cancel"):
        return {}
    follows: dict[str, Any] = {"refers_to": _referenced(source, alert)}
    if alert.msg_type == "Cancel":
        said = (info.description or info.headline) if info else None
        follows["cancel"] = True
        follows["cancel_reason"] = clip(alert.note or said or CANCELLED_BY_SENDER, 500)
    return follows


def _reference_only(
    envelope: Envelope,
    district: District,
    received_at: datetime,
    alert: CapAlert,
    places: ReferencePlaces | None,
) -> Report:
    """An Update or Cancel with no area, placed where the first alert it
    references is known to be (see the module doc)."""
    refers_to = _referenced(envelope.source, alert)
    known = (places(key) for key in refers_to) if places is not None else iter(())
    grid_code = next((grid for grid in known if grid and grid in district.grids), None)
    if grid_code is None:
        named = ", ".join(f"{ref.sender},{ref.identifier}" for ref in alert.references)
        raise IntakeError(f"data.references: no alert known for {named}")
    info = _primary_info(alert.info)
    attributes: dict[str, Any] = {
        "fold_key": cap_fold_key(envelope.source, alert.sender, alert.identifier),
        "cap_msg_type": alert.msg_type,
        "cap_sender": alert.sender,
        "cap_identifier": alert.identifier,
        "references_only": True,
        **_follows(envelope.source, alert, info),
    }
    said: tuple[str | None, ...] = (alert.note,)
    category = district.sources.cap_category(said, [])
    occurred_at: datetime | None = alert.sent
    if info is not None:
        attributes.update(
            severity=info.severity,
            urgency=info.urgency,
            certainty=info.certainty,
            cap_event=info.event,
            cap_categories=list(info.categories),
        )
        said = (info.headline, info.description, alert.note)
        category = district.sources.cap_category((info.event, *said), info.categories)
        occurred_at = info.onset or info.effective or alert.sent
    text = "\n".join(part for part in said if part)
    return build_report(
        envelope,
        received_at,
        report_id=derived_report_id(envelope),
        category=category,
        description=text or f"CAP {alert.msg_type}: {alert.identifier}",
        location=None,
        grid_code=grid_code,
        occurred_at=occurred_at,
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
