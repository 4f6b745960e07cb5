"""Collect: parse the CloudEvent, validate, normalise (``streams.logic.intake``);
good records go to ``gridhub.reports`` keyed by community, bad ones to the DLQ
with the reason.

Batches with ``noack_take``, normalises a batch at once (one grid query for
its points), sends the batch's records through the Kafka client and acks the
batch once the broker has them all. A CAP Update or
Cancel with no area is placed through the case agent's reference index and
the places of the CAP messages this agent normalised lately.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import faust

from schemas import trace
from schemas.envelope import Envelope, EnvelopeError, decode_kafka
from schemas.reports import Report, encode_report, report_key
from streams.batching import ack_all, event_batches
from streams.codecs import dead_letter_record
from streams.config import StreamConfig, StreamDeps
from streams.logic.intake import IntakeError, KnownPlaces, ReferencePlaces, normalise_batch
from streams.metrics import UNKNOWN, StageMeter, source_kind
from streams.sending import KafkaSender, Output, Sender
from streams.topics import StageTopics

log = logging.getLogger(__name__)


def record_time(message: Any) -> datetime:
    return datetime.fromtimestamp(float(message.timestamp or 0), UTC)


def register(
    app: faust.App,
    topics: StageTopics,
    config: StreamConfig,
    deps: StreamDeps,
    references: ReferencePlaces | None = None,
    *,
    sender: Sender | None = None,
) -> None:
    """Attach the intake agent. ``references`` tells where the case agent holds a
    CAP alert (its global reference index); with the places of the CAP messages
    this agent normalised itself, it places an Update or Cancel that has no area."""
    meter = StageMeter(deps.metrics, "intake")
    places = KnownPlaces(index=references)
    reports_topic = topics.reports.get_topic_name()
    dlq_topic = topics.intake_dlq.get_topic_name()
    outputs = sender if sender is not None else KafkaSender(app, topics.by_name())

    def envelope_of(message: Any) -> Envelope | Exception:
        headers = [(str(k), bytes(v or b"")) for k, v in (message.headers or [])]
        try:
            return decode_kafka(message.value, headers, message.key)
        except Exception as exc:  # answered for its record below
            return exc

    def deliver(
        out: list[Output], message: Any, envelope: Envelope | Exception, outcome: Report | Exception
    ) -> None:
        source = source_kind(envelope.type) if isinstance(envelope, Envelope) else UNKNOWN
        if isinstance(outcome, EnvelopeError | IntakeError):
            _dead_letter(out, message, outcome.reason, source)
            return
        if isinstance(outcome, Exception):  # a bug must not stall the loop: park the record
            log.error("intake failed on %s/%s", message.partition, message.offset, exc_info=outcome)
            reason = f"internal: {type(outcome).__name__}: {outcome}"
            _dead_letter(out, message, reason, source)
            return
        trace.bind_report(outcome)
        meter.received(message.topic, source)
        out.append(Output(reports_topic, report_key(outcome), encode_report(outcome)))
        meter.sent(reports_topic, source)

    def handle(messages: list[Any]) -> list[Output]:
        """Decode every record, normalise the batch at once, then answer each in order."""
        envelopes = [envelope_of(message) for message in messages]
        reports = iter(
            normalise_batch(
                [
                    (envelope, record_time(message))
                    for message, envelope in zip(messages, envelopes, strict=True)
                    if isinstance(envelope, Envelope)
                ],
                deps.district,
                places,
            )
        )
        out: list[Output] = []
        for message, envelope in zip(messages, envelopes, strict=True):
            outcome = next(reports) if isinstance(envelope, Envelope) else envelope
            deliver(out, message, envelope, outcome)
        return out

    def _dead_letter(out: list[Output], message: Any, reason: str, source: str) -> None:
        log.info("dead-letter %s/%s: %s", message.partition, message.offset, reason)
        meter.received(message.topic, source)
        meter.dead_lettered(message.topic, source)
        value, headers = dead_letter_record(message, reason, "intake")
        out.append(Output(dlq_topic, message.key, value, headers))

    async def intake(stream: faust.StreamT[Any]) -> None:
        async for batch in event_batches(stream, config.stage_batch, config.stage_batch_seconds):
            meter.start(batch, count_inputs=False)
            await outputs.send(handle([event.message for event in batch]))
            await ack_all(stream, batch)
            trace.clear()
            meter.finish()

    app.agent(topics.intake, name="gridhub.intake")(intake)
