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
import time
from typing import Any

import faust

from schemas.cases import CaseEvent
from sinks.ports import CaseSink
from streams.batching import ack_all, event_batches
from streams.codecs import shared_case_events
from streams.config import StreamConfig, StreamDeps
from streams.metrics import StageMeter, StreamMetrics
from streams.topics import StageTopics

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 5.0


async def write_with_retry(
    sink: CaseSink, batch: list[CaseEvent], metrics: StreamMetrics | None = None
) -> None:
    delay = 0.1
    while True:
        started = time.perf_counter()
        try:
            await asyncio.to_thread(sink.write, batch)
            if metrics is not None:
                metrics.db_write_seconds.observe(time.perf_counter() - started)
                metrics.db_write_batch_size.observe(len(batch))
            return
        except Exception as exc:
            if metrics is not None:
                metrics.db_write_failures.inc()
            log.warning(
                "DB write of %d events failed (%s); retrying in %.1fs", len(batch), exc, delay
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_SECONDS)


def register(app: faust.App, topics: StageTopics, config: StreamConfig, deps: StreamDeps) -> None:
    meter = StageMeter(deps.metrics, "db-writer")

    async def writer(stream: faust.StreamT[Any]) -> None:
        async for batch in event_batches(stream, config.db_batch, config.db_batch_seconds):
            meter.start(batch)
            decoded: list[CaseEvent] = []
            for event in batch:
                try:
                    decoded.append(shared_case_events.decode(event.message.value or b""))
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

    app.agent(topics.case_events, name="gridhub.db-writer")(writer)
