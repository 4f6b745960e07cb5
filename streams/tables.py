"""Faust tables written on behalf of an input that is no longer current.

A Faust table sends each write to the changelog partition of the event being
processed (the stream's current event). The case agent writes its state only
after a batch's outputs are durably on Kafka, and coalesces those writes until
the next offset commit, when no event is current: each write names the
partition of the input that caused it (:class:`PinnedTable`).

:class:`StateTable` holds bytes the caller encodes (no codec per write) and
remembers each key's partition as it is written, as Faust's in-memory store
only does for the keys it recovers: a revoked partition's keys then leave the
store with the recovered ones instead of lingering until the partition returns.

Faust's insides are touched here and in ``streams.delivery`` only; reads and
recovery are plain Faust.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import faust


class PinnedTable(faust.Table[str, Any]):
    pinned: int | None = None

    def partition_for_key(self, key: Any) -> int | None:
        if self.pinned is not None:
            return self.pinned
        return super().partition_for_key(key)


class PinnedGlobalTable(faust.GlobalTable):
    pinned: int | None = None

    def partition_for_key(self, key: Any) -> int | None:
        if self.pinned is not None:
            return self.pinned
        return super().partition_for_key(key)


def pinned_table(app: faust.App, name: str, partitions: int, *, global_: bool = False) -> Any:
    cls = PinnedGlobalTable if global_ else PinnedTable
    table = cls(
        app, name=name, default=None, beacon=app.tables.beacon, partitions=partitions, key_type=str
    )
    return app.tables.add(table)


class StateTable(PinnedTable):
    """String keys, bytes values, each write on the partition it is given."""

    def write(self, key: str, value: bytes | None, partition: int) -> None:
        """Set (or, ``None``, delete) ``key`` and send it to changelog ``partition``."""
        self.pinned = partition
        try:
            if value is None:
                if key in self:
                    del self[key]
            else:
                self[key] = value
        finally:
            self.pinned = None
        located = getattr(self.data, "_key_partition", None)
        if located is not None:  # the in-memory store's record of each key's partition
            if value is None:
                located.pop(key, None)
            else:
                located[key] = partition

    def stored(self) -> Iterator[tuple[str, bytes, int | None]]:
        """``(key, value, partition)`` of every key held (partition None: unknown)."""
        located = getattr(self.data, "_key_partition", {})
        for key, value in list(self.data.items()):
            yield str(key), value, located.get(key)


def state_table(app: faust.App, name: str, partitions: int) -> StateTable:
    table = StateTable(
        app,
        name=name,
        default=None,
        beacon=app.tables.beacon,
        partitions=partitions,
        key_type=str,
        value_type=bytes,
    )
    app.tables.add(table)
    return table
