"""A small time-to-live cache for anonymous reads (``/api/v1/public/...``, the
bulletin): a burst of readers costs the database one query per key and TTL.

Concurrent misses of one key wait for the first one's answer (single flight)
instead of each querying; the computation runs in a worker thread (the
queries are synchronous). Entries are bounded; the oldest go first."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

MAX_ENTRIES = 512


@dataclass
class TtlCache:
    ttl: float
    max_entries: int = MAX_ENTRIES
    clock: Callable[[], float] = time.monotonic
    _values: OrderedDict[Hashable, tuple[float, Any]] = field(default_factory=OrderedDict)
    _pending: dict[Hashable, asyncio.Future[Any]] = field(default_factory=dict)
    computed: int = 0  # how many times a value was computed (for tests and metrics)

    async def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        hit = self._values.get(key)
        if hit is not None and hit[0] > self.clock():
            return hit[1]
        waiting = self._pending.get(key)
        if waiting is not None:
            return await asyncio.shield(waiting)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            value = await asyncio.to_thread(compute)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody waits
            raise
        finally:
            self._pending.pop(key, None)
        self.computed += 1
        self._values[key] = (self.clock() + self.ttl, value)
        self._values.move_to_end(key)
        while len(self._values) > self.max_entries:
            self._values.popitem(last=False)
        future.set_result(value)
        return value
