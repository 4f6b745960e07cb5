"""Collect: turn one inbound CloudEvent into one normalised ``Report`` — or a
reason why not, which the intake agent writes to the DLQ headers.

Pure functions; the agent in ``streams.agents.intake`` does the Kafka part.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pydantic import ValidationError

from routing.district import District
from schemas.envelope import (
    CAP_ALERT,
    CITYMGMT_CASE,
    REPORT_SUBMITTED,
    SENSOR_ALARM,
    Envelope,
    describe_validation_error,
)
from schemas.reports import Report, ReportSubmission, community_of, street_of

# The shared intake vocabulary lives in streams.sources (imported one way only).
from streams.sources import (
    REPORT_ID_NAMESPACE,
    IntakeError,
    aware,
    derived_report_id,
    locate_grid,
    normalise_cap,
    normalise_citymgmt,
    normalise_sensor,
    wgs84,
)

__all__ = [
    "REPORT_ID_NAMESPACE",
    "IntakeError",
    "derived_report_id",
    "locate_grid",
    "normalise",
]

Normaliser = Callable[[Envelope, District, datetime], Report]

# Inbound types beside the grid report (DESIGN.md §5), normalised in streams.sources.
SOURCE_NORMALISERS: dict[str, Normaliser] = {
    CITYMGMT_CASE: normalise_citymgmt,
    SENSOR_ALARM: normalise_sensor,
    CAP_ALERT: normalise_cap,
}


def normalise(envelope: Envelope, district: District, received_at: datetime) -> Report:
    """The one Report for an inbound event. ``received_at`` is the Kafka record
    time, used when the event carries no ``time`` (so a replay normalises alike)."""
    if envelope.type == REPORT_SUBMITTED:
        return _grid_report(envelope, district, received_at)
    normaliser = SOURCE_NORMALISERS.get(envelope.type)
    if normaliser is None:
        raise IntakeError(f"type: unsupported event type {envelope.type!r}")
    return normaliser(envelope, district, received_at)


def _grid_report(envelope: Envelope, district: District, received_at: datetime) -> Report:
    if not isinstance(envelope.data, dict):
        raise IntakeError("data: a JSON object is required")
    try:
        sub = ReportSubmission.model_validate(envelope.data)
    except ValidationError as exc:
        raise IntakeError("data." + describe_validation_error(exc)) from exc
    if sub.category not in district.taxonomy:
        raise IntakeError(f"data.category: unknown category {sub.category!r}")
    location = wgs84(sub.location)
    grid_code = locate_grid(district, location, sub.grid_code)
    when = aware(envelope.time) if envelope.time else received_at
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
        occurred_at=aware(sub.occurred_at) if sub.occurred_at else when,
        received_at=when,
        media=list(sub.media),
        reporter=sub.reporter,
        submitted_by=str(submitted_by) if submitted_by else None,
    )
