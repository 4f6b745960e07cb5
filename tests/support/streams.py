"""Helpers for the agent tests run on Faust's ``test_context()`` (no broker)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

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


async def settle() -> None:
    """Long enough for the agents to take what was put and answer it."""
    await asyncio.sleep(0.3)


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
