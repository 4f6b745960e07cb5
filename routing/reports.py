"""The one normalised ``Report`` of an inbound event, whatever door it came through.

Every door builds its report here: the gateway for its own reports (the phone's
``POST /api/v1/reports`` and Open311's ``POST requests``, published straight to
``gridhub.reports``), and the worker's intake stage for everything that arrives on
``gridhub.intake`` (each source module reads its own data, then calls
:func:`build_report`). So a report is the same report whichever way it travelled:

- its id: the client's, or derived from the CloudEvents ``source`` + ``id``
  (:func:`derived_report_id`), so a retried event is the same report;
- its times are the hub's (:func:`routing.provenance.hub_times`): ``received_at``
  is when the hub received the event (the gateway's clock for its own reports,
  the Kafka record time for the intake's, so a replay normalises alike) — SLA
  clocks and merge windows run on it; the sender's time is only the report's
  ``occurred_at``, clamped to ``received_at`` (a little skew allowed), a very
  old one flagged as a late arrival;
- who submitted it: the ``submittedby`` extension the gateway sets from the
  token: the principal's id;
- its trace: the W3C ``traceparent`` extension becomes ``attributes["trace_id"]``,
  so every later stage logs with the request's trace id.

Pure: no I/O, the times passed in.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from routing.placement import Placement
from routing.provenance import aware, hub_times
from schemas import trace
from schemas.envelope import Envelope
from schemas.reports import (
    MAX_DESCRIPTION,
    GeoPoint,
    Report,
    Reporter,
    ReportSubmission,
    community_of,
    street_of,
)

# Report ids of sources that do not send their own are derived from the
# CloudEvents source + id, so the same event always maps to the same report.
REPORT_ID_NAMESPACE = uuid.UUID("6f1d3c52-6a53-4e0e-9a49-1c0a3f7d2b10")
SUBMITTED_BY = "submittedby"  # extension set by the gateway: the principal's id


def derived_report_id(envelope: Envelope) -> str:
    return str(uuid.uuid5(REPORT_ID_NAMESPACE, envelope.dedup_key))


__all__ = ["aware", "build_report", "derived_report_id", "report_of_submission"]


def clip(text: str, limit: int = MAX_DESCRIPTION) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def trace_attributes(envelope: Envelope, attributes: dict[str, Any]) -> dict[str, Any]:
    """``attributes`` with the trace id of the event's ``traceparent``, if it has a valid one."""
    trace_id = trace.parse_traceparent(envelope.extensions.get(trace.TRACEPARENT))
    if trace_id is None or attributes.get(trace.TRACE_ID_ATTRIBUTE) == trace_id:
        return attributes
    return {**attributes, trace.TRACE_ID_ATTRIBUTE: trace_id}


def build_report(
    envelope: Envelope,
    received_at: datetime,
    *,
    report_id: str,
    category: str,
    description: str,
    location: GeoPoint | None,
    grid_code: str,
    occurred_at: datetime | None,
    attributes: dict[str, Any] | None = None,
    reporter: Reporter | None = None,
    external_ref: str | None = None,
    media: Iterable[str] = (),
) -> Report:
    """The one normalised ``Report`` of an inbound event, whatever its source.
    ``received_at`` is the hub's time of the event; ``occurred_at`` the sender's
    (default: the event's ``time``), clamped to it."""
    submitted_by = envelope.extensions.get(SUBMITTED_BY)
    times = hub_times(occurred_at or envelope.time, received_at)
    return Report(
        id=report_id,
        source=envelope.source,
        source_event_id=envelope.id,
        source_type=envelope.type,
        category=category,
        description=clip(description),
        location=location,
        grid_code=grid_code,
        community_code=community_of(grid_code),
        street_code=street_of(grid_code),
        occurred_at=times.occurred_at,
        received_at=times.received_at,
        media=list(media),
        reporter=reporter,
        submitted_by=str(submitted_by) if submitted_by else None,
        attributes=trace_attributes(envelope, {**(attributes or {}), **times.flags}),
        external_ref=external_ref,
    )


def report_of_submission(
    envelope: Envelope, submission: ReportSubmission, placement: Placement, received_at: datetime
) -> Report:
    """The report of a grid worker's submission (``org.gridhub.report.submitted``),
    placed on its grid; its id is the client's, else derived from the event."""
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
        occurred_at=submission.occurred_at,
        reporter=submission.reporter,
        media=submission.media,
    )
