"""Projection: write case events to the database in batches.

Lifecycle: take up to ``db_batch`` events (or what arrived within
``db_batch_seconds``), write them in one transaction through the injected
``CaseSink``, and only then ack them — Faust commits offsets of acked events
only, so an offset is never committed past what is durably written. A failed
write is retried with back-off, holding the batch (and the partition) until the
database is back; the sink's upserts make the retry and any replay harmless.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import faust

from schemas.cases import CaseEvent
from sinks.ports import CaseSink
from streams.codecs import decode_case_event
from streams.config import StreamConfig, StreamDeps

if TYPE_CHECKING:
    from streams.app import StageTopics

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 5.0


async def write_with_retry(sink: CaseSink, batch: list[CaseEvent]) -> None:
    delay = 0.1
    while True:
        try:
            await asyncio.to_thread(sink.write, batch)
            return
        except Exception as exc:
            log.warning(
                "DB write of %d events failed (%s); retrying in %.1fs", len(batch), exc, delay
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_SECONDS)


def register(app: faust.App, topics: StageTopics, config: StreamConfig, deps: StreamDeps) -> None:
    async def writer(stream: faust.Stream[bytes]) -> None:
        async for batch in stream.noack_take(config.db_batch, within=config.db_batch_seconds):
            decoded: list[CaseEvent] = []
            for event in batch:
                try:
                    decoded.append(decode_case_event(event.message.value))
                except ValueError:
                    log.error(
                        "skipping a record that is not a case event at %s/%s",
                        event.message.partition,
                        event.message.offset,
                    )
            if decoded:
                await write_with_retry(deps.sink, decoded)
            for event in batch:
                await stream.ack(event)

    app.agent(topics.case_events, name="gridhub.db-writer")(writer)
