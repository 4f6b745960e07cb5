"""Collect: parse the CloudEvent, validate, normalise; good records go to
``gridhub.reports`` keyed by community, bad ones to the DLQ with the reason.

Batches with ``noack_take`` and acks a batch only after every record in it has
been handed to the producer; Faust flushes the producer before it commits.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import faust

from schemas import trace
from schemas.envelope import Envelope, EnvelopeError, decode_kafka
from schemas.reports import Report
from streams.batching import ack_all, event_batches
from streams.codecs import encode_report
from streams.config import StreamConfig, StreamDeps
from streams.intake import IntakeError, normalise
from streams.metrics import UNKNOWN, StageMeter, source_kind

if TYPE_CHECKING:
    from streams.app import StageTopics

log = logging.getLogger(__name__)

DLQ_REASON = "gridhub-error"
DLQ_STAGE = "gridhub-error-stage"


def dlq_headers(message: Any, reason: str, stage: str) -> list[tuple[str, bytes]]:
    """The original headers plus where the record came from and why it failed."""
    headers = [(str(k), bytes(v or b"")) for k, v in (message.headers or [])]
    headers += [
        (DLQ_REASON, reason.encode("utf-8")[:4000]),
        (DLQ_STAGE, stage.encode()),
        ("gridhub-original-topic", str(message.topic).encode()),
        ("gridhub-original-partition", str(message.partition).encode()),
        ("gridhub-original-offset", str(message.offset).encode()),
    ]
    return headers


def record_time(message: Any) -> datetime:
    return datetime.fromtimestamp(float(message.timestamp or 0), UTC)


def traced(report: Report, envelope: Envelope) -> Report:
    """Carry the event's W3C ``traceparent`` (set by the gateway) into the report,
    as ``attributes["trace_id"]``, so every later stage can log with it."""
    trace_id = trace.parse_traceparent(envelope.extensions.get(trace.TRACEPARENT))
    if trace_id is None or report.attributes.get(trace.TRACE_ID_ATTRIBUTE) == trace_id:
        return report
    attributes = {**report.attributes, trace.TRACE_ID_ATTRIBUTE: trace_id}
    return report.model_copy(update={"attributes": attributes})


def register(app: faust.App, topics: StageTopics, config: StreamConfig, deps: StreamDeps) -> None:
    meter = StageMeter(deps.metrics, "intake")
    reports_topic = topics.reports.get_topic_name()

    async def handle(message: Any) -> None:
        headers = [(str(k), bytes(v or b"")) for k, v in (message.headers or [])]
        source = UNKNOWN
        try:
            envelope = decode_kafka(message.value, headers, message.key)
            source = source_kind(envelope.type)
            report = traced(normalise(envelope, deps.district, record_time(message)), envelope)
        except (EnvelopeError, IntakeError) as exc:
            await _dead_letter(message, exc.reason, source)
            return
        except Exception as exc:  # a bug must not stall the loop: park the record
            log.exception("intake failed on %s/%s", message.partition, message.offset)
            await _dead_letter(message, f"internal: {type(exc).__name__}: {exc}", source)
            return
        trace.bind_report(report)
        meter.received(message.topic, source)
        await topics.reports.send(key=report.community_code.encode(), value=encode_report(report))
        meter.sent(reports_topic, source)

    async def _dead_letter(message: Any, reason: str, source: str) -> None:
        log.info("dead-letter %s/%s: %s", message.partition, message.offset, reason)
        meter.received(message.topic, source)
        meter.dead_lettered(message.topic, source)
        await topics.intake_dlq.send(
            key=message.key, value=message.value, headers=dlq_headers(message, reason, "intake")
        )

    async def intake(stream: faust.StreamT[Any]) -> None:
        async for batch in event_batches(stream, config.intake_batch, config.intake_batch_seconds):
            meter.start(batch, count_inputs=False)
            for event in batch:
                await handle(event.message)
            await ack_all(stream, batch)
            trace.clear()
            meter.finish()

    app.agent(topics.intake, name="gridhub.intake")(intake)
