"""Putting inbound events on ``gridhub.intake`` — the one way every door does it.

- :func:`report_event` builds the ``org.gridhub.report.submitted`` CloudEvent of a
  report, for the phone (``POST /api/v1/reports``) and Open311 (``POST requests``):
  id and subject = the report id, ``submittedby`` = the token's name, and the
  ``traceparent`` of the HTTP request, so the worker's logs of the report join the
  request's trace.
- :func:`publish_event` publishes any inbound event in structured mode, with
  ``submittedby`` set by the gateway whatever the sender said.
- :func:`publish_report` does both for a report and answers a broker that did not
  take it as a 503 with ``Retry-After``; :func:`bus_unavailable` is that answer.
"""

from __future__ import annotations

import logging
import uuid

from fastapi import HTTPException

from gateway.deps import GatewayDeps
from gateway.metrics import request_traceparent
from gateway.ports import TokenInfo
from gateway.publisher import PublishError
from schemas.envelope import REPORT_SUBMITTED, Envelope, encode_structured, now_utc
from schemas.reports import ReportSubmission

log = logging.getLogger(__name__)

SUBMITTED_BY = "submittedby"  # extension set by the gateway: the token's name
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
    ``Idempotency-Key`` per token (and per ``door`` other than the phone's), so a
    retry is the same report; without either, a new one."""
    if given is not None:
        return given
    if idempotency_key is None:
        return uuid.uuid4()
    scope = str(token.id) if door is None else f"{token.id}:{door}"
    return uuid.uuid5(deps.idempotency_namespace, f"{scope}:{idempotency_key}")


def report_event(
    submission: ReportSubmission, report_id: uuid.UUID, source: str, submitter: str
) -> Envelope:
    """The ``report.submitted`` event of ``submission`` as ``report_id``."""
    return Envelope.model_validate(
        {
            "id": str(report_id),
            "source": source,
            "type": REPORT_SUBMITTED,
            "subject": str(report_id),
            "time": now_utc(),
            "datacontenttype": "application/json",
            "data": submission.model_copy(update={"report_id": report_id}).model_dump(mode="json"),
            SUBMITTED_BY: submitter,
            "traceparent": request_traceparent(),  # W3C trace context, followed by the worker
        }
    )


async def publish_event(deps: GatewayDeps, envelope: Envelope, submitter: str, key: bytes) -> None:
    """``envelope`` on the intake topic, structured, ``submittedby`` = ``submitter``.
    Raises :class:`~gateway.publisher.PublishError` when the broker does not take it."""
    value, headers = encode_structured(envelope.model_copy(update={SUBMITTED_BY: submitter}))
    await deps.publisher.publish(deps.topics.intake, key, value, headers)


def bus_unavailable(exc: PublishError, detail: str) -> HTTPException:
    """The answer when the broker did not take an event: 503, retry later."""
    log.warning("not published to the intake topic: %s", exc)
    return HTTPException(
        status_code=503, detail=detail, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
    )


async def publish_report(
    deps: GatewayDeps,
    token: TokenInfo,
    submission: ReportSubmission,
    report_id: uuid.UUID,
    *,
    source: str | None = None,
) -> None:
    """Publish the report (keyed by its id) as ``source`` (default: the gateway's);
    a broker that does not take it is an ``HTTPException`` 503 with ``Retry-After``."""
    event = report_event(submission, report_id, source or deps.source, token.name)
    try:
        await publish_event(deps, event, token.name, str(report_id).encode())
    except PublishError as exc:
        raise bus_unavailable(exc, REPORT_UNAVAILABLE) from exc
