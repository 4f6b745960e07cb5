"""The grid worker's report (``org.gridhub.report.submitted``): the phone's
submission, validated, placed on its grid.

Split in two so a batch can place all its points at once: :func:`read_submission`
validates the data, the caller places ``(location, grid_code)``, and
:func:`grid_report` builds the report on that placement.
"""

from __future__ import annotations

from datetime import datetime

from routing.district import District
from routing.placement import Placement
from schemas.envelope import Envelope
from schemas.reports import Report, ReportSubmission
from streams.logic.intake.common import (
    IntakeError,
    build_report,
    data_model,
    derived_report_id,
    event_time,
    place,
)


def read_submission(envelope: Envelope, district: District) -> ReportSubmission:
    """The submission in the event's data, of a category the district knows."""
    submission = data_model(envelope, ReportSubmission)
    if submission.category not in district.taxonomy:
        raise IntakeError(f"data.category: unknown category {submission.category!r}")
    return submission


def grid_report(
    envelope: Envelope, submission: ReportSubmission, placement: Placement, received_at: datetime
) -> Report:
    """The report of a placed submission; its id is the client's, else derived."""
    return build_report(
        envelope,
        received_at,
        report_id=str(submission.report_id)
        if submission.report_id
        else derived_report_id(envelope),
        category=submission.category,
        description=submission.description,
        location=placement.location,
        grid_code=placement.grid_code,
        occurred_at=submission.occurred_at or event_time(envelope, received_at),
        reporter=submission.reporter,
        media=submission.media,
    )


def normalise_grid_report(envelope: Envelope, district: District, received_at: datetime) -> Report:
    submission = read_submission(envelope, district)
    placement = place(district, submission.location, submission.grid_code)
    return grid_report(envelope, submission, placement, received_at)
