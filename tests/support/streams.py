"""Helpers for the agent tests run on Faust's ``test_context()`` (no broker)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from faust.types import Message

from schemas.topics import TopicNames
from streams.config import StreamConfig


class Captured:
    """Stands in for topics' ``send``: keeps what each stage sent, by topic name."""

    def __init__(self) -> None:
        self.sent: dict[str, list[dict[str, Any]]] = {}

    def patch(self, topic: Any, name: str) -> None:
        bucket = self.sent.setdefault(name, [])

        async def send(**kwargs: Any) -> None:
            bucket.append(kwargs)

        topic.send = send

    @classmethod
    def every(cls, topics: Any) -> Captured:
        """Every topic of a ``StageTopics``, by its field name (no record leaves)."""
        captured = cls()
        for name in vars(topics):
            captured.patch(getattr(topics, name), name)
        return captured


async def settle() -> None:
    """Long enough for the agents to take what was put and answer it."""
    await asyncio.sleep(0.3)


async def until(check: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    """Wait (without blocking the agents) until ``check()`` is true; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.01)
    return result


class Feed:
    """Puts records on an agent in ``test_context()`` as if read from the named
    topics, each topic-partition with offsets of its own from 0 (the stages take
    a partition's records in offset order)."""

    def __init__(self, agent: Any) -> None:
        self.agent = agent
        self.offsets: Counter[tuple[str, int]] = Counter()

    async def put(
        self,
        topic: str,
        value: bytes,
        key: bytes | None = None,
        partition: int = 0,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        offset = self.offsets[(topic, partition)]
        self.offsets[(topic, partition)] += 1
        message = Message(
            topic=topic,
            partition=partition,
            offset=offset,
            timestamp=time.time(),
            timestamp_type=0,
            headers=headers,
            key=key,
            value=value,
            checksum=b"",
            serialized_key_size=0,
            serialized_value_size=0,
            generation_id=self.agent.app.consumer_generation_id,
        )
        channel = self.agent.stream().channel
        await channel.put(await channel.decode(message))


def unit_config(tmp_path: Path, **changes: Any) -> StreamConfig:
    """A worker configuration that never contacts a broker (``test_context``
    uses in-memory channels)."""
    fields: dict[str, Any] = {
        "app_id": f"unit-{tmp_path.name}",
        "bootstrap": "127.0.0.1:1",
        "topics": TopicNames.with_prefix("unit."),
        "datadir": tmp_path,
        "web_enabled": False,
        **changes,
    }
    return StreamConfig(**fields)
