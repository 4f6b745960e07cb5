"""Hotspot state by event time, with synthetic bursts (no Faust)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from routing.hotspots import HotspotRule
from schemas.alerts import Alert, AlertKind
from schemas.reports import Report
from streams.logic.hotspots import (
    HotspotState,
    HotspotTracker,
    SourceCount,
    alert_id,
    observe,
    window_iso,
    window_start,
)
from tests.support.envelopes import GRID
from tests.support.reports import HOUR, NINE, OTHER_GRID, burst, report_at, trickle


@pytest.fixture
def rule() -> HotspotRule:
    return HotspotRule.load()


@pytest.fixture
def tracker(rule: HotspotRule) -> HotspotTracker:
    return HotspotTracker(rule)


def run(tracker: HotspotTracker, reports: list[Report]) -> list[Alert]:
    return [a for a in map(tracker.observe, reports) if a is not None]


def test_windows_follow_event_time_and_align_to_the_hour() -> None:
    assert window_start(NINE + timedelta(minutes=59, seconds=59), 3600) == int(NINE.timestamp())
    assert window_start(NINE + HOUR, 3600) == int((NINE + HOUR).timestamp())
    # Beijing time is a whole-hour offset: the same window.
    beijing = NINE.astimezone(datetime.fromisoformat("2026-01-01T00:00:00+08:00").tzinfo)
    assert window_start(beijing + timedelta(minutes=30), 3600) == int(NINE.timestamp())
    assert window_iso(int(NINE.timestamp())) == "2026-11-26T09:00:00Z"


def test_quiet_grid_and_a_burst_raise_exactly_one_alert(tracker: HotspotTracker) -> None:
    history = trickle(NINE - 24 * HOUR, 24, 1)[::3]  # one report every 3 h: 8 in 24 h
    assert run(tracker, history) == []
    alerts = run(tracker, burst(NINE, 9))
    assert len(alerts) == 1
    [alert] = alerts
    assert alert.kind is AlertKind.HOTSPOT
    assert alert.id == f"hotspot:{GRID}:garbage:2026-11-26T09:00:00Z"
    assert alert.grid_code == GRID
    assert alert.category == "garbage"
    assert alert.time == NINE + 4 * timedelta(minutes=5)  # the fifth report tipped it
    assert alert.title == (
        "hotspot: 5 reports of garbage in 1 h vs baseline 0.33/h (floor 0.5/h, ×10)"
    )
    assert alert.detail["count"] == 5
    assert alert.detail["window_start"] == "2026-11-26T09:00:00Z"
    assert alert.detail["window_end"] == "2026-11-26T10:00:00Z"
    assert sum(alert.detail["baseline_counts"]) == 8
    assert alert.detail["sources"] == {"urn:gridhub:gateway": 5}
    assert alert.detail["community_code"] == GRID[:12]
    state = tracker.state(GRID, "garbage")
    assert state is not None and state.counts[int(NINE.timestamp())] == 9


def test_a_grid_with_no_history_at_all_alerts_at_min_count(tracker: HotspotTracker) -> None:
    alerts = run(tracker, burst(NINE, 4))
    assert alerts == []
    [alert] = run(tracker, burst(NINE + timedelta(minutes=30), 1))
    assert alert.detail["count"] == 5
    assert alert.detail["baseline"] == 0


def test_steady_high_traffic_with_a_high_baseline_raises_nothing(tracker: HotspotTracker) -> None:
    # A market street: 12 garbage reports every hour. Only its very first hour,
    # with no history at all, looks like a burst; then the baseline knows better.
    alerts = run(tracker, trickle(NINE - 24 * HOUR, 24, 12))
    assert [a.detail["window_start"] for a in alerts] == ["2026-11-25T09:00:00Z"]
    assert run(tracker, trickle(NINE, 3, 12)) == []
    # ... but a real jump on top of it (36 = 3 × 12 in one hour) is a hotspot.
    alerts = run(tracker, burst(NINE + 3 * HOUR, 40, timedelta(seconds=60)))
    assert [a.detail["count"] for a in alerts] == [36]
    assert alerts[0].title == "hotspot: 36 reports of garbage in 1 h vs baseline 12/h (×3)"


def test_a_young_key_is_judged_on_the_history_it_has(tracker: HotspotTracker) -> None:
    assert run(tracker, burst(NINE - 2 * HOUR, 2)) == []  # first seen 2 h ago: 2, then 0
    [alert] = run(tracker, burst(NINE, 5))
    assert alert.detail["baseline_counts"] == [2, 0]
    assert alert.detail["baseline"] == 1.0
    assert alert.detail["required"] == 5


def test_the_next_window_can_alert_again(tracker: HotspotTracker) -> None:
    assert run(tracker, [report_at(NINE - 24 * HOUR)]) == []  # a day of (quiet) history
    first = run(tracker, burst(NINE, 8))
    second = run(tracker, burst(NINE + HOUR, 8))
    assert [a.id for a in first] == [alert_id(GRID, "garbage", int(NINE.timestamp()))]
    # The second hour's baseline holds the first burst (8 / 24 h), still under the floor.
    assert [a.id for a in second] == [alert_id(GRID, "garbage", int((NINE + HOUR).timestamp()))]


def test_a_bigger_burst_is_needed_after_a_busy_day(tracker: HotspotTracker) -> None:
    run(tracker, trickle(NINE - 24 * HOUR, 24, 4))  # baseline 4/h: needs 12
    assert run(tracker, burst(NINE, 11)) == []
    [alert] = run(tracker, burst(NINE + timedelta(minutes=56), 1))
    assert alert.detail["required"] == 12


def test_other_grids_and_categories_are_unaffected(tracker: HotspotTracker) -> None:
    run(tracker, trickle(NINE - 24 * HOUR, 24, 10, grid=OTHER_GRID))  # busy neighbour
    alerts = run(tracker, burst(NINE, 6))
    alerts += run(tracker, burst(NINE, 4, category="noise"))  # under min_count
    alerts += run(tracker, burst(NINE, 9, grid=OTHER_GRID))  # under 3 × 10
    assert [(a.grid_code, a.category) for a in alerts] == [(GRID, "garbage")]
    assert tracker.state(GRID, "noise") is not None


def test_category_overrides_apply(tracker: HotspotTracker) -> None:
    assert len(run(tracker, burst(NINE, 3, category="gas_smell"))) == 1
    assert run(tracker, burst(NINE, 50, category="other")) == []


def test_retries_of_one_report_count_once_even_across_a_window_edge(
    tracker: HotspotTracker,
) -> None:
    phone = [report_at(NINE + timedelta(minutes=59, seconds=50), report_id="r-1")]
    phone.append(report_at(NINE + HOUR + timedelta(seconds=5), report_id="r-1"))
    phone += [report_at(NINE + timedelta(minutes=50), report_id="r-1") for _ in range(10)]
    assert run(tracker, phone) == []
    state = tracker.state(GRID, "garbage")
    assert state is not None and sum(state.counts.values()) == 1


def test_ids_are_deterministic_across_replays(rule: HotspotRule) -> None:
    reports = trickle(NINE - 24 * HOUR, 24, 1) + burst(NINE, 7) + burst(NINE + 2 * HOUR, 7)
    first = run(HotspotTracker(rule), reports)
    again = run(HotspotTracker(rule), reports)
    assert [a.id for a in first] == [a.id for a in again]
    assert first == again
    assert [a.id for a in first] == [
        f"hotspot:{GRID}:garbage:2026-11-26T09:00:00Z",
        f"hotspot:{GRID}:garbage:2026-11-26T11:00:00Z",
    ]


def test_late_reports_count_in_their_own_window(rule: HotspotRule) -> None:
    state = None
    for r in burst(NINE + 2 * HOUR, 3):
        state = observe(state, r, rule).state
    late = observe(state, report_at(NINE + timedelta(minutes=10)), rule)
    assert late.counted and late.window_start == int(NINE.timestamp())
    assert late.state.counts[int(NINE.timestamp())] == 1
    # older than every window kept (24 before the newest): ignored, state untouched
    ancient = observe(late.state, report_at(NINE - 30 * HOUR), rule)
    assert not ancient.counted and ancient.state is late.state


def test_state_keeps_only_the_baseline_horizon_and_round_trips(rule: HotspotRule) -> None:
    state = None
    for r in trickle(NINE - 48 * HOUR, 49, 1):
        state = observe(state, r, rule).state
    assert state is not None
    assert len(state.counts) == 25  # the newest window and 24 before it
    again = HotspotState.from_json(state.to_json())
    assert again == state
    assert HotspotState.from_json(None) == HotspotState()


def test_source_counts_for_the_analysis(tracker: HotspotTracker) -> None:
    run(tracker, burst(NINE, 3, source="urn:hotline:12345"))
    run(tracker, burst(NINE, 2, source="urn:gridhub:gateway"))
    run(tracker, burst(NINE, 2, source="urn:gridhub:gateway", category="noise"))
    run(tracker, burst(NINE, 1, grid=OTHER_GRID))
    run(tracker, burst(NINE + HOUR, 1))
    at = NINE + timedelta(minutes=45)
    assert tracker.source_counts(at, GRID, "garbage") == [
        SourceCount(GRID, "garbage", "urn:hotline:12345", NINE, 3),
        SourceCount(GRID, "garbage", "urn:gridhub:gateway", NINE, 2),
    ]
    assert sum(row.count for row in tracker.source_counts(at)) == 8
    assert {row.grid_code for row in tracker.source_counts(at, category="garbage")} == {
        GRID,
        OTHER_GRID,
    }
    assert tracker.source_counts(NINE - HOUR) == []
