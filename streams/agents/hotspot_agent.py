"""Aggregate + analyse: windowed counts per grid × category and hotspot alerts (DESIGN.md §2).

Agent ``gridhub.hotspots``, a second consumer of ``gridhub.reports``. The decision
itself is pure (``streams.logic.hotspots``); this module owns the tables and the
batch lifecycle.

- **Tables**, keyed by community like the stream, so they move with the partition
  on a rebalance:
  ``hotspot-counts`` (tumbling, reports per grid × category × source, with a key
  index so a window can be listed); ``hotspot-seen`` (tumbling, report ids, so a
  retried report is counted once); ``hotspot-baseline`` (per grid × category: the
  newest and trailing windows, the windows that alerted, the last offset counted).
- **Event time.** Windows follow the report's ``received_at``. ``relative_to_field``
  needs a ``faust.Record`` value and our topics carry bytes, so the tables are
  relative to :class:`EventTime`. Faust expires windows by wall clock: windows of
  a replay of old data leave ``hotspot-counts`` at the next cleanup, which the
  decision does not need (``hotspot-baseline`` keeps its own windows).
- **A batch**, un-acked: decided over a staged view (reads see the batch's own
  counts); its alerts sent and acknowledged by the broker; only then the state
  written, one write per key rather than per report (each write is a changelog
  record), each on behalf of the event that caused it (``streams.tables``); the
  batch acked last.
- **After a crash** the same alert (same id) is raised again rather than lost,
  and a replayed record is recognised by its offset and not counted twice.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, cast

import faust
from faust.types import EventT
from faust.types.tables import TableT, WindowWrapperT
from faust.types.windows import WindowRange, WindowRange_from_start

from routing.hotspots import HotspotRule
from schemas.alerts import ALERT_TYPE_PREFIX, Alert, AlertKind
from schemas.envelope import Envelope, encode_structured
from schemas.reports import Report
from streams.batching import ack_all, event_batches
from streams.codecs import shared_reports
from streams.config import StreamConfig, StreamDeps
from streams.logic.hotspots import (
    KEY_SEPARATOR,
    HotspotState,
    SourceCount,
    breakdown,
    duplicate_windows,
    hotspot_alert,
    observe,
    source_key,
    split_source_key,
    state_key,
    window_start,
)
from streams.tables import current_events
from streams.topics import StageTopics

log = logging.getLogger(__name__)

AGENT_NAME = "gridhub.hotspots"
COUNTS_TABLE = "hotspot-counts"
SEEN_TABLE = "hotspot-seen"
BASELINE_TABLE = "hotspot-baseline"
ALERT_SOURCE = "urn:gridhub:hotspot-agent"
HOTSPOT_ALERT_TYPE = f"{ALERT_TYPE_PREFIX}{AlertKind.HOTSPOT.value}"


def alert_cloudevent(alert: Alert) -> Envelope:
    """The structured CloudEvent of an alert: id = alert id, subject = grid code."""
    return Envelope(
        id=alert.id,
        source=ALERT_SOURCE,
        type=f"{ALERT_TYPE_PREFIX}{alert.kind.value}",
        subject=alert.grid_code,
        time=alert.time,
        datacontenttype="application/json",
        data=alert.model_dump(mode="json"),
    )


class EventTime:
    """Faust ``relative_to`` handler: the event time of a report record is its
    ``received_at``. The agent marks the event it has decoded, so the report is
    not parsed twice; any other event is decoded here."""

    def __init__(self) -> None:
        self._event: EventT[Any] | None = None
        self._timestamp = 0.0

    def mark(self, event: EventT[Any], report: Report) -> None:
        self._event, self._timestamp = event, report.received_at.timestamp()

    def __call__(self, event: EventT[Any] | None = None) -> float:
        if event is None:
            raise RuntimeError("hotspot tables are read by event time: give a window range")
        if event is self._event:
            return self._timestamp
        return shared_reports.decode(event.message.value or b"").received_at.timestamp()


@dataclass(frozen=True)
class HotspotTables:
    """The agent's tables, for the analysis (e.g. a view or the daily brief).
    Reads cover the partitions this worker holds."""

    rule: HotspotRule
    counts: WindowWrapperT
    seen: WindowWrapperT
    baseline: TableT[str, Any]

    def window(self, start: int) -> WindowRange:
        return WindowRange_from_start(float(start), float(self.rule.window_seconds))

    def source_counts(
        self,
        at: datetime,
        grid_code: str | None = None,
        category: str | None = None,
        pending: Mapping[str, int] | None = None,
    ) -> list[SourceCount]:
        """Reports per grid × category × source in the window holding ``at``, plus
        ``pending`` counts (source key -> reports) not written to the table yet."""
        start = window_start(at, self.rule.window_seconds)
        counts = Counter(dict(self._window_items(start, grid_code, category)))
        counts.update(pending or {})
        return breakdown(counts.items(), start, grid_code, category)

    def state(self, grid_code: str, category: str) -> HotspotState:
        return HotspotState.from_json(self.baseline.get(state_key(grid_code, category)))

    def _window_items(
        self, start: int, grid_code: str | None, category: str | None
    ) -> Iterator[tuple[str, int]]:
        window = self.window(start)
        for key in list(iter(self.counts)):  # the key index; iter() avoids event-time reads
            grid, cat, _ = split_source_key(key)
            if (grid_code is None or grid == grid_code) and (category is None or cat == category):
                yield key, int(self.counts[key][window])

    def is_duplicate(self, report_id: str, start: int, position: int) -> bool:
        """An earlier *other* record of this report id was counted near this window."""
        for w in duplicate_windows(start, self.rule.window_seconds):
            counted_at = self.seen.table.get((report_id, self.window(w)))
            if counted_at is not None and counted_at != position:
                return True
        return False


@dataclass
class _Count:
    """Reports of one grid × category × source in one window, not yet written."""

    n: int
    event: EventT[Any]  # the last one, made current for the write
    report: Report


class StagedHotspots:
    """One batch of the hotspot analysis over :class:`HotspotTables`: decisions see
    the batch's own effects; the writes wait for :meth:`apply`."""

    def __init__(self, tables: HotspotTables) -> None:
        self.tables = tables
        self.alerts: list[Alert] = []
        self._states: dict[str, tuple[HotspotState, EventT[Any], Report]] = {}
        self._seen: dict[tuple[str, int], tuple[int, EventT[Any], Report]] = {}
        self._counts: dict[tuple[str, int], _Count] = {}

    def _state(self, key: str) -> HotspotState:
        staged = self._states.get(key)
        if staged is not None:
            return staged[0]
        return HotspotState.from_json(self.tables.baseline.get(key))

    def _is_duplicate(self, report_id: str, start: int, position: int) -> bool:
        for w in duplicate_windows(start, self.tables.rule.window_seconds):
            staged = self._seen.get((report_id, w))
            if staged is not None and staged[0] != position:
                return True
        return self.tables.is_duplicate(report_id, start, position)

    def _pending(self, grid_code: str, category: str, start: int) -> dict[str, int]:
        prefix = state_key(grid_code, category) + KEY_SEPARATOR
        return {
            key: count.n
            for (key, w), count in self._counts.items()
            if w == start and key.startswith(prefix)
        }

    def observe(self, event: EventT[Any]) -> None:
        message = event.message
        try:
            report = shared_reports.decode(message.value or b"")
        except ValueError:
            # The case agent dead-letters undecodable reports; here they only don't count.
            log.warning("undecodable report at %s/%s", message.partition, message.offset)
            return
        rule = self.tables.rule
        position = int(message.offset)
        key = state_key(report.grid_code, report.category)
        state = self._state(key)
        if position <= state.position:
            return  # replayed after a crash: already counted
        start = window_start(report.received_at, rule.window_seconds)
        if self._is_duplicate(report.id, start, position):
            return  # a retry of a report already counted
        observation = observe(state, report, rule)
        counted = (source_key(report.grid_code, report.category, report.source), start)
        count = self._counts.get(counted)
        self._counts[counted] = _Count((count.n if count else 0) + 1, event, report)
        if observation.verdict is not None:
            pending = self._pending(report.grid_code, report.category, start)
            rows = self.tables.source_counts(
                report.received_at, report.grid_code, report.category, pending
            )
            sources = {row.source: row.count for row in rows}
            self.alerts.append(hotspot_alert(report, observation, observation.verdict, sources))
        self._seen[(report.id, start)] = (position, event, report)
        self._states[key] = (replace(observation.state, position=position), event, report)

    def apply(self, stream: faust.Stream[Any], event_time: EventTime) -> None:
        """Write the batch's state, each write with the event that caused it current
        (its changelog partition, and its window through ``event_time``)."""
        tables = self.tables
        with current_events(stream) as make_current:

            def on_behalf_of(event: EventT[Any], report: Report) -> None:
                make_current(event)
                event_time.mark(event, report)

            for (key, _), count in self._counts.items():
                on_behalf_of(count.event, count.report)
                tables.counts[key] += count.n
            for (report_id, _), (position, event, report) in self._seen.items():
                on_behalf_of(event, report)
                tables.seen[report_id] = position
            for key, (state, event, report) in self._states.items():
                on_behalf_of(event, report)
                tables.baseline[key] = state.to_json()


def register(
    app: faust.App,
    topics: StageTopics,
    config: StreamConfig,
    deps: StreamDeps,
    rule: HotspotRule | None = None,
) -> HotspotTables:
    """Attach the hotspot agent; ``rule`` defaults to the district's (``hotspots.yaml``)."""
    rule = rule if rule is not None else deps.district.hotspots
    size = rule.window_seconds
    event_time = EventTime()
    counts = (
        app.Table(
            COUNTS_TABLE, default=int, partitions=config.partitions, key_type=str, value_type=int
        )
        .tumbling(size, expires=size * (rule.baseline_windows + 1), key_index=True)
        .clone(relative_to=event_time)
    )
    seen = (
        app.Table(SEEN_TABLE, default=None, partitions=config.partitions, key_type=str)
        .tumbling(size, expires=size * 2)
        .clone(relative_to=event_time)
    )
    baseline = app.Table(BASELINE_TABLE, default=None, partitions=config.partitions, key_type=str)
    tables = HotspotTables(rule=rule, counts=counts, seen=seen, baseline=baseline)

    async def raise_alerts(alerts: list[Alert]) -> None:
        """Send every alert of a batch, then wait until the broker has them all.
        (With Faust's stream_publish_on_commit on, this would wait for a commit
        that waits for this batch: keep that setting off.)"""
        pending = []
        for alert in alerts:
            value, headers = encode_structured(alert_cloudevent(alert))
            sent = await topics.alerts.send(
                key=alert.grid_code.encode(), value=value, headers=headers
            )
            if sent is not None:
                pending.append(sent)
        for sent in pending:
            await sent
        for alert in alerts:
            log.warning("%s (%s)", alert.title, alert.id)

    async def hotspots(stream: faust.StreamT[Any]) -> None:
        async for batch in event_batches(stream, config.stage_batch, config.stage_batch_seconds):
            staged = StagedHotspots(tables)
            for event in batch:
                staged.observe(event)
            await raise_alerts(staged.alerts)
            staged.apply(cast("faust.Stream[Any]", stream), event_time)
            await ack_all(stream, batch)

    app.agent(topics.reports, name=AGENT_NAME)(hotspots)
    return tables
