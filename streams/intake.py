"""Collect: turn one inbound CloudEvent into one normalised ``Report`` — or a
reason why not, which the intake agent writes to the DLQ headers.

Pure functions; the agent in ``streams.agents.intake`` does the Kafka part.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from pydantic import ValidationError

from routing.district import District
from routing.geo import gcj02_to_wgs84
from schemas.envelope import REPORT_SUBMITTED, Envelope, describe_validation_error
from schemas.reports import GeoPoint, Report, ReportSubmission, community_of, street_of

# Report ids of sources that do not send their own are derived from the
# CloudEvents source + id, so the same event always maps to the same report.
REPORT_ID_NAMESPACE = uuid.UUID("6f1d3c52-6a53-4e0e-9a49-1c0a3f7d2b10")


class IntakeError(ValueError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def derived_report_id(envelope: Envelope) -> str:
    return str(uuid.uuid5(REPORT_ID_NAMESPACE, envelope.dedup_key))


def normalise(envelope: Envelope, district: District, received_at: datetime) -> Report:
    """The one Report for an inbound event. ``received_at`` is the Kafka record
    time, used when the event carries no ``time`` (so a replay normalises alike)."""
    if envelope.type == REPORT_SUBMITTED:
        return _grid_report(envelope, district, received_at)
    raise IntakeError(f"type: unsupported event type {envelope.type!r}")


def _grid_report(envelope: Envelope, district: District, received_at: datetime) -> Report:
    if not isinstance(envelope.data, dict):
        raise IntakeError("data: a JSON object is required")
    try:
        sub = ReportSubmission.model_validate(envelope.data)
    except ValidationError as exc:
        raise IntakeError("data." + describe_validation_error(exc)) from exc
    if sub.category not in district.taxonomy:
        raise IntakeError(f"data.category: unknown category {sub.category!r}")
    location = _wgs84(sub.location)
    grid_code = locate_grid(district, location, sub.grid_code)
    when = _aware(envelope.time) if envelope.time else received_at
    submitted_by = envelope.extensions.get("submittedby")
    return Report(
        id=str(sub.report_id) if sub.report_id else derived_report_id(envelope),
        source=envelope.source,
        source_event_id=envelope.id,
        source_type=envelope.type,
        category=sub.category,
        description=sub.description,
        location=location,
        grid_code=grid_code,
        community_code=community_of(grid_code),
        street_code=street_of(grid_code),
        occurred_at=_aware(sub.occurred_at) if sub.occurred_at else when,
        received_at=when,
        media=list(sub.media),
        reporter=sub.reporter,
        submitted_by=str(submitted_by) if submitted_by else None,
    )


def _wgs84(point: GeoPoint | None) -> GeoPoint | None:
    if point is None or point.crs == "wgs84":
        return point
    lat, lon = gcj02_to_wgs84(point.lat, point.lon)
    return GeoPoint(lat=lat, lon=lon)


def locate_grid(district: District, location: GeoPoint | None, grid_code: str | None) -> str:
    """The grid of a report: the given code if the district has it, else point-in-polygon."""
    if grid_code is not None:
        if district.grids.get(grid_code) is None:
            raise IntakeError(f"data.grid_code: {grid_code} is not a grid of this district")
        return grid_code
    if location is None:
        raise IntakeError("data: location or grid_code is required")
    grid = district.grids.locate(location.lat, location.lon)
    if grid is None:
        raise IntakeError("data.location: outside every grid of this district")
    return grid.code


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
