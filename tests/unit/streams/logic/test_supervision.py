"""The supervision index finds exactly the marks a scan of every case record finds,
and parses a record only when its table value changed or a mark is due."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from schemas.cases import CaseState
from streams.logic.casestore import CaseRecord, DictCaseStore
from streams.logic.casework import CaseWork
from streams.logic.intake import normalise
from streams.logic.supervision import DueIndex, due_marks, next_due, watched
from tests.support.envelopes import WHEN, report_envelope

# Centres of four demo grids, far enough apart not to merge.
POINTS = [(39.9022, 116.3830), (39.9022, 116.3890), (39.9067, 116.3830), (39.9067, 116.3890)]


class Parser:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, raw: Any) -> CaseRecord:
        self.calls += 1
        return CaseRecord.model_validate(raw)


@pytest.fixture
def table(district) -> dict[str, Any]:
    """Case id -> JSON value, as the case agent's table holds them: dispatched
    cases of every priority's clock, an open one, opened over a few hours."""
    work = CaseWork(district, DictCaseStore(), merge_window=timedelta(hours=48))
    categories = ["garbage", "manhole_cover", "road_damage", "other", "gas_smell"]
    for n, category in enumerate(categories * 2):
        lat, lon = POINTS[n % len(POINTS)]
        envelope = report_envelope(
            category=category, grid_code=None, location={"lat": lat, "lon": lon + n * 1e-4}
        ).model_copy(update={"time": WHEN + timedelta(minutes=37 * n)})
        work.on_report(normalise(envelope, district, WHEN))
    records = work.store.records.values()  # type: ignore[attr-defined]
    assert {r.case.state for r in records} == {CaseState.OPEN, CaseState.DISPATCHED}
    return {r.case.id: r.model_dump(mode="json") for r in records}


def scan(table: dict[str, Any], now: datetime) -> list[tuple[str, list[str]]]:
    """What the timer did before the index: parse every record, ask due_marks."""
    found = []
    for case_id, raw in table.items():
        marks = due_marks(CaseRecord.model_validate(raw), now)
        if marks:
            found.append((case_id, marks))
    return found


def raise_marks(table: dict[str, Any], case_id: str, marks: list[str]) -> None:
    """The case agent raised them: the table now holds a new value."""
    record = CaseRecord.model_validate(table[case_id])
    table[case_id] = record.model_copy(update={"marks": [*record.marks, *marks]}).model_dump(
        mode="json"
    )


def test_the_index_fires_the_same_marks_as_a_scan_of_every_record(table) -> None:
    watched_at_start = {
        case_id: [m.key for m in watched(CaseRecord.model_validate(raw))]
        for case_id, raw in table.items()
    }
    index = DueIndex()
    fired = 0
    for minutes in range(0, 30 * 24 * 60, 7):  # a 7-minute tick over 30 days
        now = WHEN + timedelta(minutes=minutes)
        expected = scan(table, now)
        got = index.due(table.items(), now, CaseRecord.model_validate)
        assert [(case_id, marks) for case_id, _, marks in got] == expected
        for case_id, _, marks in got:
            raise_marks(table, case_id, marks)
            fired += len(marks)
    # Each dispatched case: every task's response deadline, the warning, overdue and
    # the 150 % escalation, and each co-department task's own deadline — once each.
    assert fired == sum(len(keys) for keys in watched_at_start.values())
    for case_id, raw in table.items():
        if raw["case"]["state"] == "dispatched":
            keys = watched_at_start[case_id]
            assert {"respond:t1", "warning", "overdue", "escalation_150"} <= set(keys)
            assert sorted(raw["marks"]) == sorted(keys)


def test_a_tick_parses_only_changed_records_and_those_with_a_mark_due(table) -> None:
    index, parse = DueIndex(), Parser()
    assert index.due(table.items(), WHEN, parse) == []
    assert parse.calls == len(table)  # the first tick indexes every record
    index.due(table.items(), WHEN + timedelta(minutes=1), parse)
    assert parse.calls == len(table)  # nothing changed, nothing due: no parsing
    case_id = next(iter(table))
    table[case_id] = dict(table[case_id])  # a write replaces the value
    index.due(table.items(), WHEN + timedelta(minutes=2), parse)
    assert parse.calls == len(table) + 1


def test_next_due_is_when_the_first_unraised_mark_falls_due(table) -> None:
    for raw in table.values():
        record = CaseRecord.model_validate(raw)
        at = next_due(record)
        if record.case.state is not CaseState.DISPATCHED:
            assert at is None
            continue
        # Nobody accepted yet: the response deadlines (签收时限) fall due first.
        responses = [m.key for m in watched(record) if m.key.startswith("respond:")]
        assert at is not None and due_marks(record, at + timedelta(seconds=1)) == responses
        assert due_marks(record, at - timedelta(seconds=1)) == []
        done = record.model_copy(update={"marks": [m.key for m in watched(record)]})
        assert next_due(done) is None


def test_records_that_left_the_table_leave_the_index(table) -> None:
    index = DueIndex()
    late = WHEN + timedelta(days=60)
    assert index.due(table.items(), late, CaseRecord.model_validate)
    assert index.due({}.items(), late, CaseRecord.model_validate) == []
    assert index.due({"x": None}.items(), late, CaseRecord.model_validate) == []
