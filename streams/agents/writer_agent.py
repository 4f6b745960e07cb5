"""Projection from the feed: write ``gridhub.case-events`` to a database in batches.

The case agent writes the projection itself, in the batch that decides the
events (``streams.agents.case_agent``). This agent is for a database fed from
the public feed instead — a second database, or one being rebuilt alongside a
running hub (``StreamConfig.projection_from_feed``); ``gridhub replay`` rebuilds
one offline from the same feed.

Lifecycle: take up to ``db_batch`` events (or what arrived within
``db_batch_seconds``), write them in one transaction through the injected
``CaseSink``, and only then ack them — Faust commits offsets of acked events
only, so an offset is never committed past what is durably written. A failed
write is retried with back-off, holding the batch (and the partition) until the
database is back; the sink's upserts make the retry and any replay harmless.
"""

from __future__ import annotations

import logging
from typing import Any

import faust

from schemas.cases import CaseEvent
from streams.batching import ack_all, event_batches
from streams.codecs import decode_case_event
from streams.config import StreamConfig, StreamDeps
from streams.metrics import StageMeter
from streams.projection import write_with_retry
from streams.topics import StageTopics

log = logging.getLogger(__name__)

AGENT_NAME = "gridhub.db-writer"


def register(app: faust.App, topics: StageTopics, config: StreamConfig, deps: StreamDeps) -> None:
    meter = StageMeter(deps.metrics, "db-writer")

    async def writer(stream: faust.StreamT[Any]) -> None:
        async for batch in event_batches(stream, config.db_batch, config.db_batch_seconds):
            meter.start(batch)
            decoded: list[CaseEvent] = []
            for event in batch:
                try:
                    decoded.append(decode_case_event(event.message.value or b""))
                except ValueError:
                    log.error(
                        "skipping a record that is not a case event at %s/%s",
                        event.message.partition,
                        event.message.offset,
                    )
            if decoded:
                await write_with_retry(deps.sink, decoded, deps.metrics)
            await ack_all(stream, batch)
            meter.finish()

    app.agent(topics.case_events, name=AGENT_NAME)(writer)
