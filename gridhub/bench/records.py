"""The bench's load: N distinct report CloudEvents (structured mode, every demo grid
and category, from the simulator's :class:`~gridhub.simulate.TrafficGenerator`) as
Kafka records, and :func:`produce_all`, which sends them to a topic before a phase
starts so that the phase measures consuming, not producing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from gridhub.console import StatusLine
from gridhub.simulate import TrafficGenerator
from routing.district import District

Record = tuple[bytes, bytes, list[tuple[str, bytes]]]  # key, value, headers


def report_records(count: int, district: District, seed: int) -> list[Record]:
    """``count`` distinct report CloudEvents, structured mode, keyed by report id."""
    return more_records(TrafficGenerator(district, seed), count)


def more_records(generator: TrafficGenerator, count: int) -> list[Record]:
    """The next ``count`` report CloudEvents of ``generator``, timed now."""
    now = datetime.now(UTC)
    out: list[Record] = []
    for _ in range(count):
        inbound = generator.grid_report(now)
        value, headers = inbound.encode()
        out.append((inbound.key, value, headers))
    return out


async def produce_all(
    bootstrap: str, topic: str, records: Sequence[Record], status: StatusLine, label: str
) -> float:
    """Send every record (batched, lingering) and wait for all acks; seconds taken."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id="gridhub-bench-load",
        acks="all",
        linger_ms=20,
        max_batch_size=512 * 1024,
        max_request_size=4 * 1024 * 1024,
    )
    await producer.start()
    try:
        started = time.perf_counter()
        futures = []
        for n, (key, value, headers) in enumerate(records, 1):
            futures.append(await producer.send(topic, value=value, key=key, headers=headers))
            if n % 1000 == 0:
                elapsed = time.perf_counter() - started
                status.show(f"{label}: {n}/{len(records)} {n / elapsed:,.0f}/s")
        await asyncio.gather(*futures)
        elapsed = time.perf_counter() - started
        status.show(f"{label}: {len(records)}/{len(records)} done in {elapsed:.1f}s", force=True)
        return elapsed
    finally:
        await producer.stop()
