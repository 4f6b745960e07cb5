"""Collect: turn one inbound CloudEvent into one normalised ``Report`` — or a
reason why not, which the intake agent writes to the DLQ headers.

Pure functions; the agent in ``streams.agents.intake`` does the Kafka part.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError

from routing.district import District
from routing.grids import Grid
from schemas.envelope import (
    CAP_ALERT,
    CITYMGMT_CASE,
    REPORT_SUBMITTED,
    SENSOR_ALARM,
    Envelope,
    describe_validation_error,
)
from schemas.reports import GeoPoint, Report, ReportSubmission, community_of, street_of

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
    "normalise_batch",
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
        return _grid_report(envelope, _submission(envelope, district), district, received_at)
    normaliser = SOURCE_NORMALISERS.get(envelope.type)
    if normaliser is None:
        raise IntakeError(f"type: unsupported event type {envelope.type!r}")
    return normaliser(envelope, district, received_at)


def normalise_batch(
    items: Sequence[tuple[Envelope, datetime]], district: District
) -> list[Report | Exception]:
    """:func:`normalise` for each ``(envelope, received_at)``, in order: the Report,
    or the exception that ``normalise`` would have raised for it. The grid reports'
    points are placed on grids in one vectorised query — one query per point was
    two thirds of normalising a report."""
    submissions: list[_Submission | Exception | None] = []
    for envelope, _ in items:
        if envelope.type != REPORT_SUBMITTED:
            submissions.append(None)
            continue
        try:
            submissions.append(_submission(envelope, district))
        except Exception as exc:  # reported for its record, as normalise would raise it
            submissions.append(exc)
    points = list(
        dict.fromkeys(
            (sub.location.lat, sub.location.lon)
            for sub in submissions
            if isinstance(sub, _Submission) and sub.grid_code is None and sub.location is not None
        )
    )
    located = dict(zip(points, district.grids.locate_many(points), strict=True))
    out: list[Report | Exception] = []
    for (envelope, received_at), sub in zip(items, submissions, strict=True):
        if isinstance(sub, Exception):
            out.append(sub)
            continue
        try:
            if sub is None:
                out.append(normalise(envelope, district, received_at))
            else:
                out.append(_grid_report(envelope, sub, district, received_at, located))
        except Exception as exc:
            out.append(exc)
    return out


@dataclass(frozen=True)
class _Submission:
    """A grid report's data, validated, its location in WGS84; not yet on a grid."""

    data: ReportSubmission
    location: GeoPoint | None

    @property
    def grid_code(self) -> str | None:
        return self.data.grid_code


def _submission(envelope: Envelope, district: District) -> _Submission:
    if not isinstance(envelope.data, dict):
        raise IntakeError("data: a JSON object is required")
    try:
        sub = ReportSubmission.model_validate(envelope.data)
    except ValidationError as exc:
        raise IntakeError("data." + describe_validation_error(exc)) from exc
    if sub.category not in district.taxonomy:
        raise IntakeError(f"data.category: unknown category {sub.category!r}")
    return _Submission(sub, wgs84(sub.location))


def _grid_report(
    envelope: Envelope,
    submission: _Submission,
    district: District,
    received_at: datetime,
    located: Mapping[tuple[float, float], Grid | None] | None = None,
) -> Report:
    sub, location = submission.data, submission.location
    grid_code = locate_grid(district, location, sub.grid_code, located)
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
