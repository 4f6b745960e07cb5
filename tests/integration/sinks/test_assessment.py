"""Assessment (考核) on SQLite and PostgreSQL, from a realistic history written
through the projection writer, checked against numbers worked out by hand."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sinks.assessment import area_indicators, department_indicators, grid_worker_indicators
from tests.integration.sinks.histories import END, START, A, B, load


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
        "department": A,
        "dispatched": 4,  # c1 c2 c3 c8
        "returned": 1,  # c3
        "due": 2,  # c1 c2 (c3 is B's now, c5 was due last week, c8 merged)
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
    }
    assert b == {
        "department": B,
        "dispatched": 3,  # c3 c4 c7
        "returned": 0,
        "due": 2,  # c3 (closed late) c4 (open)
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
