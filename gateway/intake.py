"""Where every door puts what it accepts.

- The gateway's own reports (the phone's ``POST /api/v1/reports``, Open311's ``POST
  requests``) are checked and placed on their grid here, so they go **straight to
  ``gridhub.reports``** keyed by community — the case agent's input — built by the
  same function the worker's intake stage uses (:func:`routing.reports.report_of_submission`):
  id = the report id, ``submitted_by`` = the principal's id, the trace id of the HTTP
  request. :func:`publish_report` does that and answers a broker that did not take it
  as a 503 with ``Retry-After``; :func:`bus_unavailable` is that answer.
- Events of other systems (``POST /api/v1/events``, ``/cap``) go to ``gridhub.intake``,
  the door for outside systems, where the worker normalises each source:
  :func:`publish_event` publishes one in structured mode, :func:`publish_batch` a
  batch in bulk, with ``submittedby`` set by the gateway whatever the sender said.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence

from fastapi import HTTPException

from gateway.deps import GatewayDeps
from gateway.metrics import request_traceparent
from gateway.ports import TokenInfo
from gateway.publisher import OutgoingRecord, PublishError
from routing.placement import Placement
from routing.reports import SUBMITTED_BY, report_of_submission
from schemas.envelope import REPORT_SUBMITTED, Envelope, encode_structured, now_utc
from schemas.reports import Report, ReportSubmission, encode_report, report_key

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
REPORT_UNAVAILABLE = (
    "the event bus is unavailable, so the report was not accepted; "
    "retry later with the same Idempotency-Key"
)


def report_id(
    deps: GatewayDeps,
    token: TokenInfo,
    idempotency_key: str | None,
    *,
    given: uuid.UUID | None = None,
    door: str | None = None,
) -> uuid.UUID:
    """The report's id: the client's own (``given``), else derived from the
    ``Idempotency-Key`` per principal (and per ``door`` other than the phone's),
    so a retry is the same report, also with a rotated token; without either, a
    new one."""
    if given is not None:
        return given
    if idempotency_key is None:
        return uuid.uuid4()
    who = str(token.principal_id)
    scope = who if door is None else f"{who}:{door}"
    return uuid.uuid5(deps.idempotency_namespace, f"{scope}:{idempotency_key}")


def submitted_report(
    submission: ReportSubmission,
    placement: Placement,
    report_id: uuid.UUID,
    source: str,
    submitter: str,
) -> Report:
    """The normalised report of a submission the gateway has validated and placed.

    It is built from the ``report.submitted`` event the submission would have been
    on ``gridhub.intake`` — constructed, not validated again (every part of it is
    already checked) — so the worker would have built the very same report."""
    rid = str(report_id)
    received = now_utc()
    event = Envelope.model_construct(
        id=rid,
        source=source,
        type=REPORT_SUBMITTED,
        subject=rid,
        time=received,
        datacontenttype="application/json",
        submittedby=submitter,  # the extensions routing.reports reads
        traceparent=request_traceparent(),
    )
    if submission.report_id != report_id:
        submission = submission.model_copy(update={"report_id": report_id})
    return report_of_submission(event, submission, placement, received)


def bus_unavailable(exc: PublishError, detail: str) -> HTTPException:
    """The answer when the broker did not take an event: 503, retry later."""
    log.warning("not published: %s", exc)
    return HTTPException(
        status_code=503, detail=detail, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
    )


async def publish_report(
    deps: GatewayDeps,
    token: TokenInfo,
    submission: ReportSubmission,
    placement: Placement,
    report_id: uuid.UUID,
    *,
    source: str | None = None,
) -> Report:
    """Publish the report to ``gridhub.reports`` as ``source`` (default: the gateway's);
    a broker that does not take it is an ``HTTPException`` 503 with ``Retry-After``."""
    submitter = str(token.principal_id)
    report = submitted_report(submission, placement, report_id, source or deps.source, submitter)
    try:
        await deps.publisher.publish(
            deps.topics.reports, report_key(report), encode_report(report), []
        )
    except PublishError as exc:
        raise bus_unavailable(exc, REPORT_UNAVAILABLE) from exc
    return report


def intake_record(
    deps: GatewayDeps, envelope: Envelope, submitter: str, key: bytes
) -> OutgoingRecord:
    """``envelope`` as a structured-mode record for the intake topic, ``submittedby`` =
    ``submitter``."""
    value, headers = encode_structured(envelope.model_copy(update={SUBMITTED_BY: submitter}))
    return OutgoingRecord(deps.topics.intake, key, value, headers)


async def publish_event(deps: GatewayDeps, envelope: Envelope, submitter: str, key: bytes) -> None:
    """``envelope`` on the intake topic, structured, ``submittedby`` = ``submitter``.
    Raises :class:`~gateway.publisher.PublishError` when the broker does not take it."""
    record = intake_record(deps, envelope, submitter, key)
    await deps.publisher.publish(*record)


async def publish_batch(
    deps: GatewayDeps, records: Sequence[OutgoingRecord]
) -> list[PublishError | None]:
    """Every record at once (one lingering batch per partition), each answered:
    None once the broker holds it, else why not."""
    return await deps.publisher.publish_many(records)
