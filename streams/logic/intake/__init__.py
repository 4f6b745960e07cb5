"""Collect: turn one inbound CloudEvent into one normalised ``Report`` — or an
:class:`IntakeError` whose reason names the field, which the intake agent
(``streams.agents.intake_agent``) writes to the DLQ headers.

One module per source (``grid``, ``citymgmt``, ``sensor``, ``cap``) over the
shared vocabulary of ``common``; this module picks the source by event type and
normalises a batch with one vectorised placement of its grid reports' points.
A CAP Update or Cancel with no area is placed where the alerts it references are,
through a lookup the caller passes in (see :mod:`streams.logic.intake.cap`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from routing.district import District
from routing.placement import PlacementRefused
from routing.reports import REPORT_ID_NAMESPACE, derived_report_id, report_of_submission
from schemas.envelope import CAP_ALERT, CITYMGMT_CASE, REPORT_SUBMITTED, SENSOR_ALARM, Envelope
from schemas.reports import Report, ReportSubmission
from streams.logic.intake.cap import KnownPlaces, ReferencePlaces, normalise_cap
from streams.logic.intake.citymgmt import citymgmt_report_id, normalise_citymgmt
from streams.logic.intake.common import IntakeError, refused_place
from streams.logic.intake.grid import normalise_grid_report, read_submission
from streams.logic.intake.sensor import normalise_sensor

__all__ = [
    "REPORT_ID_NAMESPACE",
    "SOURCE_NORMALISERS",
    "IntakeError",
    "KnownPlaces",
    "Normaliser",
    "ReferencePlaces",
    "citymgmt_report_id",
    "derived_report_id",
    "normalise",
    "normalise_batch",
]

Normaliser = Callable[[Envelope, District, datetime], Report]

# Inbound types (DESIGN.md §5) and the module that reads each.
SOURCE_NORMALISERS: dict[str, Normaliser] = {
    REPORT_SUBMITTED: normalise_grid_report,
    CITYMGMT_CASE: normalise_citymgmt,
    SENSOR_ALARM: normalise_sensor,
    CAP_ALERT: normalise_cap,
}


def normalise(
    envelope: Envelope,
    district: District,
    received_at: datetime,
    places: ReferencePlaces | None = None,
) -> Report:
    """The one Report for an inbound event. ``received_at`` is the Kafka record
    time, used when the event carries no ``time`` (so a replay normalises alike);
    ``places`` tells where earlier CAP alerts are (for a reference-only Update or
    Cancel; without it such a message is refused)."""
    if envelope.type == CAP_ALERT:  # the one source that may be placed by another message
        return normalise_cap(envelope, district, received_at, places)
    normaliser = SOURCE_NORMALISERS.get(envelope.type)
    if normaliser is None:
        raise IntakeError(f"type: unsupported event type {envelope.type!r}")
    return normaliser(envelope, district, received_at)


def normalise_batch(
    items: Sequence[tuple[Envelope, datetime]],
    district: District,
    places: KnownPlaces | None = None,
) -> list[Report | Exception]:
    """:func:`normalise` for each ``(envelope, received_at)``, in order: the Report,
    or the exception that ``normalise`` would have raised for it. The grid reports'
    points are placed on grids in one vectorised query — one query per point was
    two thirds of normalising a report. ``places`` learns where each CAP message
    of the batch went, so a reference-only Cancel finds an alert of the same
    batch, or of an earlier one normalised with the same ``places``."""
    known = places if places is not None else KnownPlaces()
    submissions: list[ReportSubmission | Exception | None] = []
    for envelope, _ in items:
        if envelope.type != REPORT_SUBMITTED:
            submissions.append(None)
            continue
        try:
            submissions.append(read_submission(envelope, district))
        except Exception as exc:  # reported for its record, as normalise would raise it
            submissions.append(exc)
    placements = iter(
        district.place_many(
            [
                (sub.location, sub.grid_code)
                for sub in submissions
                if isinstance(sub, ReportSubmission)
            ]
        )
    )
    out: list[Report | Exception] = []
    for (envelope, received_at), sub in zip(items, submissions, strict=True):
        if isinstance(sub, Exception):
            out.append(sub)
            continue
        try:
            if sub is None:
                report = normalise(envelope, district, received_at, known)
                known.learn(report)
                out.append(report)
                continue
            placement = next(placements)
            if isinstance(placement, PlacementRefused):
                raise refused_place(placement)
            out.append(report_of_submission(envelope, sub, placement, received_at))
        except Exception as exc:
            out.append(exc)
    return out
