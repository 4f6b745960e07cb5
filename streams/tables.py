"""Writing Faust tables on behalf of an earlier event of a batch.

A Faust table sends each write to the changelog partition of the event being
processed (the stream's current event), and a windowed table reads its window
from that event too. The batched stages write their state only after the
batch's output is durably on Kafka, when no single event is current, so each
write must name the input that caused it. Two ways, both here so that Faust's
insides are touched in this module and ``streams.delivery`` only:

- :class:`PinnedTable` / :func:`pinned_table`: the caller pins the changelog
  partition (the case agent: plain tables keyed by case, index and cell);
- :func:`current_events`: the caller makes an earlier event the stream's
  current one (the hotspot agent: windowed tables, whose window comes from the
  event as well). Faust has no public way to do this; its stream iteration uses
  the same private setter per event.

Reads and recovery are plain Faust.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import faust
from faust.types import EventT


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


@contextmanager
def current_events(stream: faust.Stream[Any]) -> Iterator[Callable[[EventT[Any]], None]]:
    """A setter that makes an event of the batch the stream's current event, so the
    table writes that follow go to its changelog partition (and its window);
    the stream's own current event is put back on exit (Faust's take buffer reads it)."""
    previous = stream.current_event
    try:
        yield stream._set_current_event
    finally:
        stream._set_current_event(previous)
