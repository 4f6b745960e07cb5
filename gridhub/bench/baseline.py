"""The baseline the full loop is compared with (DESIGN.md §9 ratio): a tuned one-hop
aiokafka pass-through on the same broker. A consumer fetching with
``getmany(max_records=...)`` copies the pre-produced records from topic A to topic B
through a lingering, batching producer (acks=all, like the worker); the clock runs
from the first record fetched to the last one acknowledged.
"""

from __future__ import annotations

import asyncio
import time

from gridhub.bench.results import BenchError
from gridhub.console import StatusLine


async def baseline_pass_through(
    bootstrap: str,
    source: str,
    target: str,
    expected: int,
    group: str,
    status: StatusLine,
    timeout: float,
) -> float:
    """Copy ``expected`` records from ``source`` to ``target``: events/s from the first
    record fetched to the last one acknowledged by the broker."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=bootstrap,
        client_id="gridhub-bench-baseline",
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=True,
        auto_commit_interval_ms=1000,
        fetch_max_wait_ms=50,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id="gridhub-bench-baseline",
        acks="all",
        linger_ms=5,
        max_batch_size=256 * 1024,
        max_request_size=4 * 1024 * 1024,
    )
    await producer.start()
    await consumer.start()
    try:
        deadline = time.monotonic() + timeout
        copied = 0
        first: float | None = None
        futures = []
        while copied < expected:
            if time.monotonic() > deadline:
                raise BenchError(f"baseline: copied {copied}/{expected} before the timeout")
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            if batches and first is None:
                first = time.perf_counter()
            for records in batches.values():
                for record in records:
                    futures.append(
                        await producer.send(
                            target, value=record.value, key=record.key, headers=list(record.headers)
                        )
                    )
                copied += len(records)
            if first is not None:
                elapsed = time.perf_counter() - first
                status.show(
                    f"baseline pass-through: {copied}/{expected} "
                    f"{copied / elapsed if elapsed > 0 else 0:,.0f}/s"
                )
        await asyncio.gather(*futures)
        if first is None:
            raise BenchError("baseline: nothing was copied")
        elapsed = time.perf_counter() - first
        status.show(f"baseline pass-through: {copied}/{expected} in {elapsed:.2f}s", force=True)
        return copied / elapsed
    finally:
        await consumer.stop()
        await producer.stop()
