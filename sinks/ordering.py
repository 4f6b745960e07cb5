"""One-at-a-time per key, in arrival order: the notifications of one case to one
recipient are sent in the order they were submitted (their case versions), while
different cases and recipients go on in parallel. Used by the webhook and
channel senders."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any


def order_key(recipient: str, payload: Mapping[str, Any]) -> str:
    """Deliveries with the same key go out one at a time, in submission order."""
    return f"{recipient}|{payload.get('case_id') or payload.get('id')}"


@dataclass
class KeyedLocks:
    _locks: dict[str, tuple[asyncio.Lock, int]] = field(default_factory=dict)

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        # asyncio.Lock wakes waiters first come, first served: tasks started in
        # order take their turn in order.
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)
