"""``gridhub simulate`` on a broker: :func:`run_simulation` sends the traffic of a
:class:`~gridhub.simulate.traffic.TrafficGenerator` to ``gridhub.intake`` at a steady
rate through one aiokafka producer, follows ``gridhub.case-events`` from its end with
one consumer, and sends what :class:`~gridhub.simulate.actors.FieldActors` decide to
``gridhub.case-commands`` when each action is due. :class:`SimulationTotals` counts
it all for the summary.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gridhub.console import StatusLine
from gridhub.simulate.actors import ActionPolicy, FieldActors, Planned, read_case_event
from gridhub.simulate.inbound import SOURCES
from gridhub.simulate.traffic import Mix, TrafficGenerator
from routing.district import District
from schemas.topics import TopicNames


class SimulationError(RuntimeError):
    """The simulation cannot run (e.g. the hub's topics do not exist)."""


@dataclass
class SimulationTotals:
    elapsed: float = 0.0
    inbound: Counter[str] = field(default_factory=Counter)  # per source and per repeat kind
    commands: Counter[str] = field(default_factory=Counter)  # per action sent
    case_events: int = 0
    dropped_commands: int = 0  # planned to run after the end
    send_errors: int = 0

    @property
    def sent(self) -> int:
        return sum(self.inbound[s] for s in SOURCES)

    def summary(self) -> str:
        lines = [
            f"simulated {self.elapsed:.1f}s: {self.sent} inbound events "
            f"({self.sent / self.elapsed if self.elapsed else 0:.1f}/s)",
            "  by source: " + ", ".join(f"{s} {self.inbound[s]}" for s in SOURCES),
            "  repeats: "
            + ", ".join(
                f"{kind} {self.inbound[kind]}"
                for kind in ("near", "retry", "republish", "update", "cancel")
            ),
            f"  case events seen: {self.case_events}",
            "  commands sent: "
            + (", ".join(f"{a} {n}" for a, n in sorted(self.commands.items())) or "none")
            + (
                f" ({self.dropped_commands} planned past the end, not sent)"
                if self.dropped_commands
                else ""
            ),
        ]
        if self.send_errors:
            lines.append(f"  SEND ERRORS: {self.send_errors}")
        return "\n".join(lines)


@dataclass(frozen=True)
class SimulationOptions:
    rate: float
    duration: float
    seed: int = 0
    mix: Mix = field(default_factory=Mix)
    actions: ActionPolicy = field(default_factory=ActionPolicy)


async def run_simulation(
    bootstrap: str,
    topics: TopicNames,
    district: District,
    options: SimulationOptions,
    status: StatusLine | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> SimulationTotals:
    """Send the traffic for ``options.duration`` seconds, then return the totals."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    if options.rate <= 0 or options.duration <= 0:
        raise ValueError("rate and duration must be positive")
    generator = TrafficGenerator(district, options.seed, options.mix)
    actors = FieldActors(options.seed, options.actions)
    totals = SimulationTotals()
    status = status or StatusLine()
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id="gridhub-simulate",
        acks="all",
        linger_ms=10,
    )
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        client_id="gridhub-simulate-feed",
        group_id=None,
        enable_auto_commit=False,
    )
    pending: list[tuple[float, int, Planned]] = []  # (due monotonic, seq, planned)
    seq = 0

    def sent(future: asyncio.Future[Any]) -> None:
        if future.cancelled() or future.exception() is not None:
            totals.send_errors += 1

    await producer.start()
    await consumer.start()
    try:
        existing = await consumer.topics()
        wanted = (topics.intake, topics.case_commands, topics.case_events)
        missing = [name for name in wanted if name not in existing]
        if missing:
            raise SimulationError(
                f"topics missing on {bootstrap}: {', '.join(missing)} "
                "(create them with `gridhub topics create`, or start the hub with `gridhub up`)"
            )
        if options.actions.enabled:
            # ``topics()`` reads a separate metadata snapshot: have the client itself
            # track the topic, so that its partitions are known.
            await consumer._client.add_topic(topics.case_events)
            parts = consumer.partitions_for_topic(topics.case_events)
            for _ in range(20):
                if parts:
                    break
                await asyncio.sleep(0.25)
                await consumer._client.force_metadata_update()
                parts = consumer.partitions_for_topic(topics.case_events)
            if not parts:
                raise SimulationError(f"no partitions found for {topics.case_events}")
            assigned = [TopicPartition(topics.case_events, p) for p in sorted(parts)]
            consumer.assign(assigned)
            await consumer.seek_to_end(*assigned)
            for tp in assigned:  # resolve the positions now: only this run's cases count
                await consumer.position(tp)

        async def follow_cases() -> None:
            nonlocal seq
            while True:
                batches = await consumer.getmany(timeout_ms=200, max_records=500)
                for records in batches.values():
                    for record in records:
                        event = read_case_event(record.value, record.headers)
                        if event is None:
                            continue
                        totals.case_events += 1
                        for planned in actors.plan(event):
                            seq += 1
                            due = time.monotonic() + planned.delay
                            heapq.heappush(pending, (due, seq, planned))

        follower = asyncio.create_task(follow_cases()) if options.actions.enabled else None
        started = time.monotonic()
        end = started + options.duration
        inbound_sent = 0

        def progress(elapsed: float) -> str:
            return (
                f"simulate {elapsed:5.1f}/{options.duration:g}s  "
                + "  ".join(f"{s} {generator.counts[s]}" for s in SOURCES)
                + f"  retry {generator.counts['retry']}"
                + f"  commands {sum(totals.commands.values())}"
                + f"  {inbound_sent / elapsed if elapsed > 0 else 0:.0f}/s"
            )

        try:
            while True:
                now_mono = time.monotonic()
                if now_mono >= end:
                    break
                if follower is not None and follower.done():
                    follower.result()  # re-raise what stopped it
                due = min(int((now_mono - started) * options.rate) + 1, 10**12) - inbound_sent
                now = clock()
                for inbound in generator.take(max(0, due), now):
                    value, headers = inbound.encode()
                    future = await producer.send(
                        topics.intake, value=value, key=inbound.key, headers=headers
                    )
                    future.add_done_callback(sent)
                    inbound_sent += 1
                while pending and pending[0][0] <= now_mono:
                    _, _, planned = heapq.heappop(pending)
                    command = planned.command
                    future = await producer.send(
                        topics.case_commands,
                        value=command.model_dump_json().encode(),
                        key=command.partition_key,
                    )
                    future.add_done_callback(sent)
                    totals.commands[planned.label] += 1
                status.show(progress(now_mono - started))
                await asyncio.sleep(0.01)
        finally:
            if follower is not None:
                follower.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await follower
        await producer.flush()
        totals.elapsed = time.monotonic() - started
        totals.inbound = generator.counts.copy()
        totals.dropped_commands = len(pending)
        status.show(progress(totals.elapsed), force=True)
        status.done()
        return totals
    finally:
        await producer.stop()
        await consumer.stop()
