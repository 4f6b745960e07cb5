"""How a revoked token stops working on every gateway within seconds, database
outages and open SSE streams included (DESIGN.md §8, identity).

The choice: revocations travel over a compacted Kafka topic every gateway
follows (``gridhub.token-revocations``), plus a sweep of the database.

- ``gridhub token revoke|rotate`` and ``gridhub principal disable`` write the
  database and publish a record keyed by the token (or principal). Every
  gateway process reads the topic from its beginning when it starts and then
  follows it (:class:`KafkaRevocations`), so a gateway that starts during a
  database outage still knows every revocation ever made, and a revocation
  made during an outage (the command publishes even when the database is away)
  reaches every gateway anyway.
- :class:`DatabaseSweep` reads the tokens revoked since its last pass every
  second: a revocation whose record never made it to Kafka still arrives.

Both feed :class:`sinks.tokens.Revocations` and confirm, after each pass that
read everything there was, that the list is complete up to that moment. The
gateway's token cache (:class:`sinks.tokens.CachedTokens`) answers from memory
only while that confirmation is at most a few seconds old — otherwise it asks
the database, and while the database is away it refuses what it cannot vouch
for. Open SSE streams re-check their token every second the same way.

Why not the database alone: a gateway would then have to refuse every token
during a database outage (or trust stale answers, the old 15-minute hole);
reports only need Kafka, so phones keep working through an outage this way.
Why not Kafka alone: the database is where a revocation is first written; the
sweep closes the gap when publishing failed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from fastapi.concurrency import run_in_threadpool

from schemas.revocations import Revocation, parse_revocation
from sinks.tokens import Revocations, TokenStore

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
SWEEP_SECONDS = 1.0
# A sweep reads a little before its last pass: clocks of database and gateway differ.
SWEEP_OVERLAP = timedelta(seconds=30)
KAFKA = "kafka"
DATABASE = "database"


def apply(revocations: Revocations, revocation: Revocation) -> None:
    if revocation.kind == "token":
        revocations.revoke_token(revocation.id)
    else:
        revocations.disable_principal(revocation.id)


class KafkaRevocations:
    """Reads the whole revocation topic, then follows it; confirms the list each
    time its position reaches the end offsets it asked for before reading."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        revocations: Revocations,
        *,
        client_id: str = "gridhub-gateway-revocations",
        extra_config: Mapping[str, Any] | None = None,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self.topic = topic
        self.revocations = revocations
        self.poll_seconds = poll_seconds
        self._config: dict[str, Any] = {
            "bootstrap_servers": bootstrap,
            "client_id": client_id,
            "group_id": None,
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            **(extra_config or {}),
        }
        self._consumer: Any = None
        self._task: asyncio.Task[None] | None = None
        self.read = 0

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(**self._config)
        await consumer.start()
        try:
            partitions = await self._partitions(consumer)
        except Exception:
            await consumer.stop()
            raise
        assigned = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        self._consumer = consumer
        await self._catch_up(assigned)  # the whole history before the first request
        self._task = asyncio.create_task(self._run(assigned), name="revocations")

    async def _partitions(self, consumer: Any) -> set[int]:
        deadline = time.monotonic() + 30
        while True:
            # As in gateway.tail: ask the cluster, the client tracks no topic yet.
            cluster = await consumer._client.fetch_all_metadata()
            partitions = cluster.partitions_for_topic(self.topic)
            if partitions:
                return set(partitions)
            if time.monotonic() > deadline:
                raise KafkaError(f"topic {self.topic!r} not found (run gridhub topics create)")
            await asyncio.sleep(0.5)

    async def _catch_up(self, assigned: list[TopicPartition]) -> None:
        """Read until the position reaches the end offsets asked for first; then
        everything published before that moment is applied."""
        asked = time.monotonic()
        ends = await self._consumer.end_offsets(assigned)
        while True:
            batch = await self._consumer.getmany(timeout_ms=int(self.poll_seconds * 1000))
            for records in batch.values():
                for record in records:
                    revocation = parse_revocation(record.value)
                    if revocation is not None:
                        apply(self.revocations, revocation)
                        self.read += 1
            positions = [await self._consumer.position(tp) for tp in assigned]
            if all(pos >= ends[tp] for pos, tp in zip(positions, assigned, strict=True)):
                self.revocations.confirm(KAFKA, asked)
                return

    async def _run(self, assigned: list[TopicPartition]) -> None:
        while True:
            try:
                await self._catch_up(assigned)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the list goes stale; the cache then asks the database
                log.warning("revocation topic not read: %s", exc)
                await asyncio.sleep(self.poll_seconds)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None


class DatabaseSweep:
    """Every ``interval`` seconds, the tokens revoked since the last pass."""

    def __init__(
        self, store: TokenStore, revocations: Revocations, interval: float = SWEEP_SECONDS
    ) -> None:
        self.store = store
        self.revocations = revocations
        self.interval = interval
        self._since = datetime(2000, 1, 1, tzinfo=UTC)
        self._task: asyncio.Task[None] | None = None

    async def sweep(self) -> None:
        asked = time.monotonic()
        started = datetime.now(UTC)
        revoked = await run_in_threadpool(self.store.revoked_since, self._since)
        for token_id, _principal_id in revoked:
            self.revocations.revoke_token(token_id)
        self._since = started - SWEEP_OVERLAP
        self.revocations.confirm(DATABASE, asked)

    async def start(self) -> None:
        try:
            await self.sweep()
        except Exception as exc:  # the database is away: Kafka keeps the list fresh
            log.warning("revocation sweep failed at start: %s", exc)
        self._task = asyncio.create_task(self._run(), name="revocation-sweep")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.debug("revocation sweep failed: %s", exc)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
