"""Following one Kafka topic from its end: one aiokafka consumer per gateway
process, assigned every partition, no consumer group, no committed offsets.

The gateway uses it twice: for the case agent's command results (to answer
``POST /cases/{id}/actions``) and for the public case-event feed (SSE). Each
gateway process sees every record published after it started, whatever the
number of processes; nothing is ever committed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

log = logging.getLogger(__name__)

OnRecord = Callable[[int, int, bytes | None, bytes | None], None]
"""Called with ``(partition, offset, key, value)`` for each record, in order per partition."""


class TopicTailError(RuntimeError):
    """The topic cannot be followed (broker unreachable or topic missing)."""


class TopicTail:
    """Calls ``on_record`` for every record appended to ``topic`` after :meth:`start`."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        on_record: OnRecord,
        *,
        client_id: str,
        extra_config: Mapping[str, Any] | None = None,
        max_records: int = 2000,
        metadata_timeout: float = 30.0,
    ) -> None:
        self.topic = topic
        self._on_record = on_record
        self._config: dict[str, Any] = {
            "bootstrap_servers": bootstrap,
            "client_id": client_id,
            "group_id": None,
            "enable_auto_commit": False,
            "auto_offset_reset": "latest",
            **(extra_config or {}),
        }
        self._max_records = max_records
        self._metadata_timeout = metadata_timeout
        self._consumer: Any = None
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(**self._config)
        try:
            await consumer.start()
            partitions = await self._partitions(consumer)
            assigned = [TopicPartition(self.topic, p) for p in sorted(partitions)]
            consumer.assign(assigned)
            await consumer.seek_to_end(*assigned)
            for tp in assigned:  # resolve the end offsets now, before anyone waits
                await consumer.position(tp)
        except (KafkaError, TopicTailError, OSError) as exc:
            await consumer.stop()
            raise TopicTailError(f"cannot follow topic {self.topic!r}: {exc}") from exc
        self._consumer = consumer
        self._task = asyncio.create_task(self._run(), name=f"tail:{self.topic}")

    async def _partitions(self, consumer: Any) -> set[int]:
        deadline = asyncio.get_running_loop().time() + self._metadata_timeout
        while True:
            # ``partitions_for_topic`` only knows topics the client already tracks:
            # ask the cluster itself.
            cluster = await consumer._client.fetch_all_metadata()
            partitions = cluster.partitions_for_topic(self.topic)
            if partitions:
                return set(partitions)
            if asyncio.get_running_loop().time() > deadline:
                raise TopicTailError(f"topic {self.topic!r} does not exist")
            await asyncio.sleep(0.5)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()

    async def _run(self) -> None:
        consumer = self._consumer
        while True:
            try:
                batches = await consumer.getmany(timeout_ms=1000, max_records=self._max_records)
            except KafkaError as exc:  # aiokafka reconnects by itself; keep polling
                log.warning("reading %s failed, retrying: %s", self.topic, exc)
                await asyncio.sleep(1.0)
                continue
            for records in batches.values():
                for record in records:
                    try:
                        self._on_record(record.partition, record.offset, record.key, record.value)
                    except Exception:
                        log.exception(
                            "skipping record %s/%d@%d", self.topic, record.partition, record.offset
                        )
