"""Writing case events to the database projection, retried until it holds.

Used by the case agent (every batch's events, before its inputs are acked) and
by the DB-writer agent that projects ``gridhub.case-events`` into a database
fed from the feed. The sink's writes are idempotent upserts by case id and
version, so a retry, or a batch written again after a crash, changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from schemas.cases import CaseEvent
from sinks.ports import CaseSink
from streams.metrics import StreamMetrics

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 5.0


async def write_with_retry(
    sink: CaseSink, batch: Sequence[CaseEvent], metrics: StreamMetrics | None = None
) -> None:
    """One transaction per call, in a thread; a failure is retried with back-off
    (up to :data:`MAX_BACKOFF_SECONDS` apart) until the database takes it."""
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
