"""Faust tables whose changelog partition can be pinned by the caller.

A Faust table sends each write to the changelog partition of the event being
processed. The case agent applies a whole batch's state changes only after the
batch's output is durably on Kafka (see ``streams.agents.case_agent``), when no
single event is current, so it pins the partition of the input that caused each
write instead. Reads and recovery are plain Faust.
"""

from __future__ import annotations

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
