"""The grid worker's report (``org.gridhub.report.submitted``) as it arrives on
``gridhub.intake``: the submission in the event's data, validated, placed on its
grid, then built by :func:`routing.reports.report_of_submission` — the same
function the gateway builds its own reports with.

Split in two so a batch can place all its points at once: :func:`read_submission`
validates the data, the caller places ``(location, grid_code)`` and builds the
report on that placement.
"""

from __future__ import annotations

from datetime import datetime

from routing.district import District
from routing.reports import report_of_submission
from schemas.envelope import Envelope
from schemas.reports import Report, ReportSubmission
from streams.logic.intake.common import IntakeError, data_model, place


def read_submission(envelope: Envelope, district: District) -> ReportSubmission:
    """The submission in the event's data, of a category the district knows."""
    submission = data_model(envelope, ReportSubmission)
    if submission.category not in district.taxonomy:
        raise IntakeError(f"data.category: unknown category {submission.category!r}")
    return submission


def normalise_grid_report(envelope: Envelope, district: District, received_at: datetime) -> Report:
    submission = read_submission(envelope, district)
    placement = place(district, submission.location, submission.grid_code)
    return report_of_submission(envelope, submission, placement, received_at)
