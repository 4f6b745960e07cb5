"""Hotspot detection state, without Faust (the case agent keeps it in its memory
and changelog, and counts each report the first time a case takes it:
:func:`count_report`).

Time is event time: a report counts in the window of its ``received_at``, never
of the wall clock, so a replay or a synthetic burst gives the same windows, the
same baselines and the same alerts. Windows are tumbling and aligned to the
epoch (as Faust's are): with 1 h windows they start on the hour.

Per grid × category, :class:`HotspotState` holds the counts of the current
window and the ``baseline_windows`` before it, by source too (an alert's
breakdown), plus the windows that already alerted; :func:`observe` advances it
by one report and says whether the report's window just became a hotspot (at
most once per window). Alert ids are deterministic:
``hotspot:{grid}:{category}:{window start ISO}``.

:class:`HotspotTracker` is an in-memory reference of the analysis (tests,
simulations) and :func:`breakdown` turns ``(key, count)`` pairs into rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from routing.hotspots import HotspotRule, HotspotVerdict
from schemas.alerts import Alert, AlertKind
from schemas.reports import Report

KEY_SEPARATOR = "|"  # grid codes are digits and categories [a-z0-9_.-]: no clash


def window_start(moment: datetime, window_seconds: int) -> int:
    """Start (epoch seconds) of the tumbling window holding ``moment``."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    epoch = int(moment.timestamp() // 1)
    return epoch - epoch % window_seconds


def window_iso(start: int) -> str:
    return datetime.fromtimestamp(start, UTC).isoformat().replace("+00:00", "Z")


def alert_id(grid_code: str, category: str, start: int) -> str:
    return f"hotspot:{grid_code}:{category}:{window_iso(start)}"


def state_key(grid_code: str, category: str) -> str:
    """Table key of one grid × category."""
    return f"{grid_code}{KEY_SEPARATOR}{category}"


def source_key(grid_code: str, category: str, source: str) -> str:
    """Table key of one grid × category × source (the source last: it may hold anything)."""
    return f"{grid_code}{KEY_SEPARATOR}{category}{KEY_SEPARATOR}{source}"


def split_source_key(key: str) -> tuple[str, str, str]:
    grid_code, category, source = key.split(KEY_SEPARATOR, 2)
    return grid_code, category, source


@dataclass(frozen=True)
class HotspotState:
    """One grid × category: report counts by window start (the newest window and
    at most ``baseline_windows`` before it) and the windows that already alerted."""

    counts: Mapping[int, int] = field(default_factory=dict)
    alerted: frozenset[int] = frozenset()
    # First window this grid × category was seen in: the baseline of a younger
    # key covers the windows since, not a day of made-up zeros.
    since: int | None = None
    # Position (input offset) of the last record applied, kept by the agent with
    # the state so that a record replayed after a crash is not counted twice.
    position: int = -1
    # Reports by source in the same windows as ``counts`` (an alert's breakdown).
    sources: Mapping[int, Mapping[str, int]] = field(default_factory=dict)

    @property
    def newest(self) -> int | None:
        return max(self.counts) if self.counts else None

    def to_json(self) -> dict[str, Any]:
        """A JSON-able value for a Faust table (JSON objects need string keys,
        so the counts travel as ``[start, count]`` pairs)."""
        return {
            "counts": [[start, n] for start, n in sorted(self.counts.items())],
            "alerted": sorted(self.alerted),
            "since": self.since,
            "position": self.position,
            "sources": [[start, dict(n)] for start, n in sorted(self.sources.items())],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> HotspotState:
        if not data:
            return cls()
        counts = {int(start): int(n) for start, n in data.get("counts", [])}
        return cls(
            counts=counts,
            alerted=frozenset(int(s) for s in data.get("alerted", [])),
            since=None if data.get("since") is None else int(data["since"]),
            position=int(data.get("position", -1)),
            sources={
                int(start): {str(k): int(v) for k, v in by_source.items()}
                for start, by_source in data.get("sources", [])
            },
        )


@dataclass(frozen=True)
class Observation:
    """What one report did to its grid × category."""

    state: HotspotState
    window_start: int
    counted: bool  # False: older than every window kept, ignored for hotspots
    count: int  # reports in the report's window, this one included
    # the trailing windows, oldest first (gathered when the window was judged)
    baseline_counts: tuple[int, ...]
    verdict: HotspotVerdict | None  # set once, when the window becomes a hotspot


def observe(
    state: HotspotState | None, report: Report, rule: HotspotRule, position: int | None = None
) -> Observation:
    """Count ``report`` in its window and evaluate that window against the
    windows just before it. Late reports count in their own window while it is
    still kept; a window alerts at most once, however many reports follow. The
    new state keeps ``position`` (default: the old state's). The trailing windows
    are only gathered when the window can be a hotspot at all (its count has
    reached the category's minimum): below it ``baseline_counts`` is empty."""
    state = state or HotspotState()
    size, depth = rule.window_seconds, rule.baseline_windows
    start = window_start(report.received_at, size)
    previous = max(state.counts) if state.counts else None
    newest = start if previous is None or start > previous else previous
    oldest_kept = newest - depth * size
    if start < oldest_kept:
        return Observation(state, start, False, 0, (), None)
    if newest == previous:  # no window left the kept ones: copy as they are
        counts, sources, alerted = dict(state.counts), dict(state.sources), state.alerted
    else:
        counts = {w: n for w, n in state.counts.items() if w >= oldest_kept}
        sources = {w: by for w, by in state.sources.items() if w >= oldest_kept}
        alerted = frozenset(w for w in state.alerted if w >= oldest_kept)
    count = counts[start] = counts.get(start, 0) + 1
    window = dict(sources.get(start, ()))
    window[report.source] = window.get(report.source, 0) + 1
    sources[start] = window
    since = start if state.since is None or start < state.since else state.since
    baseline: tuple[int, ...] = ()
    verdict = None
    limits = rule.thresholds(report.category)
    if start not in alerted and limits.enabled and count >= limits.min_count:
        first = max(since, start - depth * size)
        baseline = tuple(counts.get(w, 0) for w in range(first, start, size))
        verdict = rule.evaluate(count, baseline, report.category)
        if verdict is not None:
            alerted = alerted | {start}
    kept = state.position if position is None else position
    new_state = HotspotState(counts, alerted, since, kept, sources)
    return Observation(new_state, start, True, count, baseline, verdict)


def hotspot_alert(
    report: Report,
    observation: Observation,
    verdict: HotspotVerdict,
    sources: Mapping[str, int] | None = None,
) -> Alert:
    """The alert for a window that just became a hotspot; ``report`` is the one
    that tipped it over (its ``received_at`` is the alert time, so a replay
    raises the same alert)."""
    start = observation.window_start
    return Alert(
        id=alert_id(report.grid_code, report.category, start),
        kind=AlertKind.HOTSPOT,
        time=report.received_at,
        grid_code=report.grid_code,
        category=report.category,
        title=verdict.reason,
        detail={
            "window_start": window_iso(start),
            "window_end": window_iso(start + verdict.window_seconds),
            "window_seconds": verdict.window_seconds,
            "count": verdict.count,
            "required": verdict.required,
            "baseline": round(verdict.baseline, 4),
            "baseline_counts": list(observation.baseline_counts),
            "ratio": round(verdict.ratio, 2),
            "reason": verdict.reason,
            "street_code": report.street_code,
            "community_code": report.community_code,
            "report_id": report.id,
            "sources": dict(sorted((sources or {}).items())),
        },
    )


@dataclass(frozen=True)
class SourceCount:
    """Reports of one grid × category × source in one window."""

    grid_code: str
    category: str
    source: str
    window_start: datetime
    count: int


def breakdown(
    items: Iterable[tuple[str, int]],
    start: int,
    grid_code: str | None = None,
    category: str | None = None,
) -> list[SourceCount]:
    """Rows for the ``(source key, count)`` pairs of one window, filtered by grid
    and category, largest first."""
    when = datetime.fromtimestamp(start, UTC)
    rows = []
    for key, count in items:
        grid, cat, source = split_source_key(key)
        if count <= 0 or (grid_code is not None and grid != grid_code):
            continue
        if category is not None and cat != category:
            continue
        rows.append(SourceCount(grid, cat, source, when, count))
    rows.sort(key=lambda r: (-r.count, r.grid_code, r.category, r.source))
    return rows


def duplicate_windows(start: int, window_seconds: int) -> tuple[int, int, int]:
    """Windows in which an earlier record of the same report id makes a record a
    duplicate (a retry is counted once, even across a window boundary)."""
    return (start - window_seconds, start, start + window_seconds)


class HotspotTracker:
    """The whole analysis in memory, as the agent does it in tables: retries of a
    report id are counted once; hotspot states per grid × category; counts per
    grid × category × source per window (kept for the newest window and the
    ``baseline_windows`` before it, by event time)."""

    def __init__(self, rule: HotspotRule) -> None:
        self.rule = rule
        self._states: dict[str, HotspotState] = {}
        self._sources: dict[int, Counter[str]] = {}
        self._seen: dict[int, set[str]] = {}

    def observe(self, report: Report) -> Alert | None:
        size = self.rule.window_seconds
        start = window_start(report.received_at, size)
        if any(report.id in self._seen.get(w, ()) for w in duplicate_windows(start, size)):
            return None
        self._remember(report.id, start)
        key = state_key(report.grid_code, report.category)
        observation = observe(self._states.get(key), report, self.rule)
        if observation.counted:
            self._states[key] = observation.state
        window = self._count_source(report, start)
        if observation.verdict is None:
            return None
        rows = breakdown(window.items(), start, report.grid_code, report.category)
        sources = {row.source: row.count for row in rows}
        return hotspot_alert(report, observation, observation.verdict, sources)

    def state(self, grid_code: str, category: str) -> HotspotState | None:
        return self._states.get(state_key(grid_code, category))

    def source_counts(
        self, at: datetime, grid_code: str | None = None, category: str | None = None
    ) -> list[SourceCount]:
        """Counts per grid × category × source in the window holding ``at``."""
        start = window_start(at, self.rule.window_seconds)
        return breakdown(self._sources.get(start, {}).items(), start, grid_code, category)

    def _remember(self, report_id: str, start: int) -> None:
        self._seen.setdefault(start, set()).add(report_id)
        oldest_kept = max(self._seen) - 2 * self.rule.window_seconds
        for old in [w for w in self._seen if w < oldest_kept]:
            del self._seen[old]

    def _count_source(self, report: Report, start: int) -> Counter[str]:
        horizon = self.rule.baseline_windows * self.rule.window_seconds
        newest = max(start, max(self._sources, default=start))
        window: Counter[str] = self._sources.setdefault(start, Counter())
        if start >= newest - horizon:
            window[source_key(report.grid_code, report.category, report.source)] += 1
        for old in [w for w in self._sources if w < newest - horizon]:
            del self._sources[old]
        return window


def count_report(
    state: HotspotState | None, report: Report, position: int, rule: HotspotRule
) -> tuple[HotspotState, Alert | None] | None:
    """Count one report the case agent has just taken for the first time, at input
    ``position``; the new state and the alert it raises, if any. None when the
    state already counted that position (the record is read again after a crash
    that wrote the state but not the case records)."""
    if state is not None and position <= state.position:
        return None
    observation = observe(state, report, rule, position)
    alert = None
    if observation.verdict is not None:
        sources = observation.state.sources.get(observation.window_start)
        alert = hotspot_alert(report, observation, observation.verdict, sources)
    if not observation.counted:  # too old to count: only the position moves on
        return replace(observation.state, position=position), None
    return observation.state, alert
