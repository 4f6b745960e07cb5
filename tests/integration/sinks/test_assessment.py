"""Assessment (考核) on SQLite and PostgreSQL, from a realistic history written
through the projection writer, checked against numbers worked out by hand."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine

from routing.district import District
from schemas.periods import PeriodKind, period_of
from sinks.assessment import area_indicators, department_indicators, grid_worker_indicators
from sinks.public import SCORECARD_FIELDS, PublicFigures
from sinks.writer import CaseProjectionWriter
from tests.integration.sinks.histories import END, START, A, B, load
from tests.support.duty import CO, LEAD, Desk, joint_story
from tests.support.envelopes import WHEN

NO_TASKS = {
    "tasks": 0,
    "tasks_due": 0,
    "tasks_done": 0,
    "tasks_done_on_time": 0,
    "tasks_returned": 0,
    "tasks_extended": 0,
    "task_on_time_rate": None,
    "extension_rate": None,
}


@pytest.fixture
def loaded(engine):
    return load(engine)


def by_key(rows, key):
    return {row[key]: row for row in rows}


def test_department_indicators(loaded):
    rows = department_indicators(loaded, START, END)
    assert [r["department"] for r in rows] == [A, B]
    a, b = rows
    labels = a.pop("labels")
    b.pop("labels")
    assert labels["on_time_rate"] == "按期结案率"
    assert labels["closure_rate"] == "结案率"
    assert labels["rework_rate"] == "返工率"
    assert a == {
        **NO_TASKS,  # cases dispatched before tasks were kept
        "department": A,
        "dispatched": 4,  # c1 c2 c3 c8
        "returned": 1,  # c3
        "due": 2,  # c1 c2 (c3 is B's now, c5 was due last week, c8 merged)
        "deferred": 0,
        "closed_on_time": 2,
        "closed": 3,  # c1 c2 c5
        "reworked_closed": 1,  # c2
        "on_time_rate": 1.0,
        "closure_rate": 0.75,
        "rework_rate": 0.3333,
        "resolved": 4,  # c1 2 h, c2 4 h + 4 h, c5 120 h 50 min
        "mean_handling_hours": 32.71,
        "ratings": 2,
        "mean_satisfaction": 3.0,
        "tasks_returned": 1,  # c3: the lead's return is its task's return too
    }
    assert b == {
        **NO_TASKS,
        "department": B,
        "dispatched": 3,  # c3 c4 c7
        "returned": 0,
        "due": 2,  # c3 (closed late) c4 (open)
        "deferred": 0,
        "closed_on_time": 0,
        "closed": 1,
        "reworked_closed": 0,
        "on_time_rate": 0.0,
        "closure_rate": 0.3333,
        "rework_rate": 0.0,
        "resolved": 1,  # c3; c4 was resolved after the period
        "mean_handling_hours": 118.5,
        "ratings": 0,
        "mean_satisfaction": None,
    }


def test_grid_worker_indicators(loaded):
    rows = by_key(grid_worker_indicators(loaded, START, END), "grid_worker")
    assert set(rows) == {"gw-1", "gw-2"}
    assert rows["gw-1"]["labels"]["verification_pass_rate"] == "核查通过率"
    gw1 = {k: v for k, v in rows["gw-1"].items() if k != "labels"}
    gw2 = {k: v for k, v in rows["gw-2"].items() if k != "labels"}
    assert gw1 == {
        "principal_id": "gw-1",
        "grid_worker": "gw-1",  # no such principal here: named by its id
        "reports": 4,  # c1 c2 c6 c7 (c5 and c9 were reported before)
        "verifications": 4,  # c1, c2 fail, c2 pass, c5
        "verifications_passed": 3,
        "verification_pass_rate": 0.75,
    }
    assert gw2 == {
        "principal_id": "gw-2",
        "grid_worker": "gw-2",
        "reports": 3,  # c3 c4 and the second report of c1
        "verifications": 1,
        "verifications_passed": 1,
        "verification_pass_rate": 1.0,
    }


def test_an_earlier_period_sees_only_its_own_history(loaded):
    before = START - timedelta(days=30)
    [a] = department_indicators(loaded, before, START)
    assert (a["department"], a["dispatched"], a["closed"], a["due"]) == (
        A,
        2,
        1,
        2,
    )  # due: c9 and c5
    assert a["closed_on_time"] == 1  # c9 (c5 was due on 2 March and is not closed by then)
    assert a["on_time_rate"] == 0.5
    assert department_indicators(loaded, END + timedelta(days=30), END + timedelta(days=31)) == []


def test_periods_must_be_aware_and_ordered(engine):
    with pytest.raises(ValueError, match="aware"):
        department_indicators(engine, START.replace(tzinfo=None), END)
    with pytest.raises(ValueError, match="before"):
        grid_worker_indicators(engine, END, START)
    assert department_indicators(engine, START, END) == []
    assert grid_worker_indicators(engine, START, END) == []


def test_area_indicators_credit_the_street_and_community_of_each_case(loaded):
    """Every case of the history is in one community of one street: the area rows
    count each case once, whichever departments handled it."""
    (street,) = area_indicators(loaded, START, END, "street")
    (community,) = area_indicators(loaded, START, END, "community")
    assert street["street"] == "110105001" and community["community"] == "110105001001"
    figures = {k: v for k, v in street.items() if k not in ("street", "labels")}
    assert figures == {k: v for k, v in community.items() if k not in ("community", "labels")}
    assert figures["dispatched"] == 6  # c1 c2 c3 c4 c7 c8 (c3 by A, then by B: one case)
    assert figures["returned"] == 1  # c3
    assert figures["due"] == 4  # c1 c2 c3 c4
    assert figures["closed_on_time"] == 2  # c1 c2
    assert figures["closed"] == 4  # c1 c2 c3 c5
    assert figures["on_time_rate"] == 0.5
    assert figures["rework_rate"] == 0.25
    assert figures["resolved"] == 5
    assert figures["mean_satisfaction"] == 3.0


# -- joint cases, extensions, deferrals, rework (through the real case logic) -------


def _duty_history(engine: Engine) -> None:
    """Three cases of 城管 (chengguan): the joint case of the closing note (住建
    returns its part, 公安 does it, 城管 gets two more days and closes in time), a
    case deferred (缓办) and still open, and a case closed late after a rework —
    closed before its fresh rework deadline, but after its first one."""
    district = District.load()
    joint = joint_story(Desk.open(district))
    deferred = Desk.open(district, "garbage", grid_code="990101002001001")
    deferred.ok(deferred.send(action="defer", reason="等待产权人回国"))
    deferred.minute = 60 * 48
    deferred.ok(deferred.send(action="resume", reason="产权人已联系上"))
    late = Desk.open(district, "garbage", grid_code="990101003001001")
    first_due = late.case.due_by
    late.ok(late.dept(LEAD, action="resolve", note="已清运"))
    late.minute = (first_due - late.start).total_seconds() / 60 + 60
    late.ok(late.send("grid_worker", None, action="verify", passed=False, reason="仍有堆放"))
    late.ok(late.dept(LEAD, action="resolve", note="再次清运"))
    late.ok(late.send("grid_worker", None, action="verify", passed=True))
    assert late.case.closed_at > first_due and late.case.due_by == first_due
    CaseProjectionWriter(engine).write([*joint.events, *deferred.events, *late.events])


def test_per_task_figures_extension_rate_and_the_deferred_denominator(engine):
    _duty_history(engine)
    period = (WHEN - timedelta(days=1), WHEN + timedelta(days=30))
    rows = {r["department"]: r for r in department_indicators(engine, *period)}
    assert set(rows) == {LEAD, CO, "gongan"}
    chengguan = {k: rows[LEAD][k] for k in rows[LEAD] if k != "labels"}
    assert {
        k: chengguan[k] for k in ("dispatched", "due", "deferred", "closed", "closed_on_time")
    } == {
        "dispatched": 3,
        "due": 3,
        "deferred": 1,  # out of the denominator
        "closed": 2,
        "closed_on_time": 1,  # the joint case; the reworked one was late by its first deadline
    }
    assert chengguan["on_time_rate"] == 0.5  # 1 / (3 - 1)
    assert chengguan["rework_rate"] == 0.5
    # Per task: the joint case's lead task (extended), the deferred one (open), the
    # reworked one (done by its fresh deadline).
    assert {k: chengguan[k] for k in NO_TASKS} == {
        "tasks": 3,
        "tasks_due": 3,
        "tasks_done": 2,
        "tasks_done_on_time": 2,
        "tasks_returned": 0,
        "tasks_extended": 1,
        "task_on_time_rate": 0.6667,
        "extension_rate": 0.3333,  # 延期率
    }
    # 住建 returned its part, which went to 公安: not its due work, but counted.
    assert {k: rows[CO][k] for k in NO_TASKS} == {
        **NO_TASKS,
        "tasks": 1,
        "tasks_returned": 1,
    }
    assert rows[CO]["dispatched"] == 0  # it never led
    assert {k: rows["gongan"][k] for k in NO_TASKS} == {
        "tasks": 1,
        "tasks_due": 1,
        "tasks_done": 1,
        "tasks_done_on_time": 1,
        "tasks_returned": 0,
        "tasks_extended": 0,
        "task_on_time_rate": 1.0,
        "extension_rate": 0.0,
    }
    assert rows[LEAD]["labels"]["extension_rate"] == "延期率"
    assert rows[LEAD]["labels"]["deferred"] == "缓办数"


# Counts that add up: each case is due by one lead and lies in one street, each
# task belongs to one department and one case.
_ADDITIVE = (
    "dispatched",
    "due",
    "deferred",
    "closed",
    "closed_on_time",
    "tasks",
    "tasks_due",
    "tasks_done",
    "tasks_done_on_time",
    "tasks_returned",
    "tasks_extended",
)


def test_the_public_scorecards_and_the_areas_read_the_same_computation(engine):
    """One computation: the public scorecards show the leaders' per-department
    figures as they are (缓办 and 延期率 included), and the street and community
    rows count the same cases and tasks, credited by place."""
    _duty_history(engine)
    period = period_of(PeriodKind.QUARTER, WHEN.date(), "Asia/Shanghai")
    depts = {r["department"]: r for r in department_indicators(engine, period.start, period.end)}
    cards = PublicFigures(engine, ["garbage", "illegal_construction"]).scorecards(period)
    by_key = {card["key"]: card for card in cards["departments"]}
    assert set(by_key) == set(depts) == {LEAD, CO, "gongan"}
    for code, row in depts.items():
        assert {f: by_key[code][f] for f in SCORECARD_FIELDS} == {
            f: row[f] for f in SCORECARD_FIELDS
        }, code
    assert (by_key[LEAD]["deferred"], by_key[LEAD]["on_time_rate"]) == (1, 0.5)
    assert by_key[LEAD]["extension_rate"] == 0.3333  # 延期率 on the public card
    assert by_key["gongan"]["extension_rate"] == 0.0

    for level in ("street", "community"):
        areas = area_indicators(engine, period.start, period.end, level)
        totals = {f: sum(r[f] for r in areas) for f in _ADDITIVE}
        assert totals == {f: sum(r[f] for r in depts.values()) for f in _ADDITIVE}, level
        assert totals["deferred"] == 1 and totals["tasks_extended"] == 1
    streets = {card["key"]: card for card in cards["streets"]}
    for row in area_indicators(engine, period.start, period.end, "street"):
        assert {f: streets[row["street"]][f] for f in SCORECARD_FIELDS} == {
            f: row[f] for f in SCORECARD_FIELDS
        }
