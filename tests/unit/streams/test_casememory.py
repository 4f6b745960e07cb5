"""The case agent's memory (streams.casememory) over its table: one changelog record
per changed case per flush, hotspot states first; everything rebuilt from the
table after a recovery, nearby entries past the merge window left out; closed
cases leaving memory after their retention."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import faust
import pytest

from schemas.cases import CaseState
from streams.app import build_app
from streams.casememory import EVICTED_KEY, HOTSPOT_KEY, CaseMemory, StagedCaseStore
from streams.logic.casestore import CaseRecord, NearEntry, cell_key, ring_keys
from streams.logic.hotspots import HotspotState
from streams.tables import StateTable, state_table
from tests.support.cases import T0, CaseStory, make_report
from tests.support.streams import unit_config

WINDOW = timedelta(hours=48)
CELL = cell_key("990101001001|garbage", 39.9022, 116.383, 200)


@pytest.fixture
async def app(tmp_path: Path) -> faust.App:
    # In the test's event loop: a table write queues its changelog record there.
    return build_app(unit_config(tmp_path))


@pytest.fixture
async def table(app: faust.App) -> StateTable:
    return state_table(app, "cases", 4)


def record(n: int, *, at=T0, cells=(CELL,), state=CaseState.DISPATCHED, closed=None) -> CaseRecord:
    report = make_report(f"r-{n}", at=at)
    case = CaseStory.open(f"990101001001-{n:012d}", report=report, at=at).case
    case = case.model_copy(update={"state": state, "closed_at": closed})
    return CaseRecord(
        case=case,
        last_report_at=at,
        report_ids=[report.id, f"r-{n}-b"],
        fold_keys=[f"fold-{n}"],
        cells=list(cells),
    )


async def test_a_state_table_remembers_the_partition_of_what_it_writes(table: StateTable) -> None:
    table.write("a", b"1", 3)
    table.write("b", b"2", 1)
    table.write("b", None, 1)  # a tombstone
    assert list(table.stored()) == [("a", b"1", 3)]


async def test_a_flush_writes_each_changed_case_once_hotspots_first(table: StateTable) -> None:
    memory = CaseMemory(table, WINDOW)
    first = record(1)
    memory.put(first, 2)
    memory.put(first.model_copy(update={"report_ids": [*first.report_ids, "r-1-c"]}), 2)
    memory.put_hotspot("990101001001001|garbage", HotspotState(position=7), 2)
    written: list[str] = []
    real = table.write
    table.write = lambda key, value, partition: (written.append(key), real(key, value, partition))  # type: ignore[method-assign]
    assert memory.flush() == 2
    assert written == [f"{HOTSPOT_KEY}990101001001001|garbage", first.case.id]
    assert memory.flush() == 0  # nothing changed since


async def test_rebuild_restores_records_indexes_and_hotspots_from_the_table(
    table: StateTable,
) -> None:
    memory = CaseMemory(table, WINDOW)
    fresh, stale = record(1, at=T0 + 3 * WINDOW), record(2, at=T0)
    memory.put(fresh, 0)
    memory.put(stale, 1)
    memory.put_hotspot("g|garbage", HotspotState(position=3), 1)
    memory.flush()
    memory.put(record(3), 0)  # not flushed: its inputs are read again after a recovery

    memory.rebuild()
    assert set(memory.records) == {fresh.case.id, stale.case.id}
    assert memory.records[fresh.case.id] is fresh  # the bytes it wrote: not parsed again
    assert memory.reports == {
        "r-1": fresh.case.id,
        "r-1-b": fresh.case.id,
        "r-2": stale.case.id,
        "r-2-b": stale.case.id,
    }
    assert memory.folds == {"fold-1": fresh.case.id, "fold-2": stale.case.id}
    location = fresh.case.location
    assert location is not None
    # The stale case is past the merge window of the newest: nothing nearby finds it.
    entry = NearEntry(fresh.case.id, location.lat, location.lon)
    assert memory.cells == {key: [entry] for key in ring_keys(CELL)}  # the ring around its cell
    assert memory.hotspots == {"g|garbage": HotspotState(position=3)}
    assert memory.partition[stale.case.id] == 1


async def test_nearby_entries_expire_with_the_merge_window(table: StateTable) -> None:
    memory = CaseMemory(table, WINDOW)
    old = record(1, at=T0)
    memory.put(old, 0)
    memory.reindex()
    assert memory.expire_near() == 0
    memory.put(record(2, at=T0 + WINDOW), 0)  # a report two days on
    memory.reindex()  # both indexed: the newest is not past the window plus the slack yet
    assert len(memory.cells[CELL]) == 2
    memory.put(record(3, at=T0 + WINDOW + timedelta(hours=2)), 0)
    assert memory.expire_near() == 1
    assert [e.case_id for e in memory.cells[CELL]] == [record(2).case.id]
    assert old.case.id in memory.records  # the case itself stays: only its entry went


async def test_closed_cases_leave_after_their_retention(table: StateTable) -> None:
    memory = CaseMemory(table, WINDOW, closed_retention=timedelta(hours=1))
    closed = record(1, state=CaseState.CLOSED, closed=T0, cells=())
    live = record(2)
    memory.put(closed, 3)
    memory.put(live, 3)
    memory.reindex()
    memory.flush()
    assert memory.evict_closed(T0 + timedelta(minutes=30)) == []
    assert memory.evict_closed(T0 + timedelta(hours=1)) == [closed.case.id]
    assert set(memory.records) == {live.case.id}
    assert "r-1" not in memory.reports and memory.reports["r-2"] == live.case.id
    assert memory.evicted == {3}
    memory.flush()
    assert closed.case.id not in table  # its tombstone
    assert table[f"{EVICTED_KEY}3"] == b"1"  # after a restart the archive is asked
    memory.rebuild()
    assert memory.evicted == {3} and set(memory.records) == {live.case.id}


async def test_without_an_archive_closed_cases_stay(table: StateTable) -> None:
    memory = CaseMemory(table, WINDOW, closed_retention=None)
    memory.put(record(1, state=CaseState.CLOSED, closed=T0, cells=()), 0)
    assert memory.evict_closed(T0 + timedelta(days=365)) == []


async def test_a_batch_sees_its_own_writes_and_keeps_no_index_of_archived_cases(
    table: StateTable, app: faust.App
) -> None:
    memory = CaseMemory(table, WINDOW)
    held = record(1)
    archived = record(2, state=CaseState.CLOSED, closed=T0, cells=())
    memory.put(held, 0)
    memory.reindex()
    staged = StagedCaseStore(memory, {}, {archived.case.id: archived}, {"r-2": archived.case.id})
    assert staged.record(archived.case.id) is archived
    assert staged.case_of_report("r-2") == archived.case.id
    staged.index_report("r-2", archived.case.id)  # what a late copy's check re-indexes
    changed = held.model_copy(update={"report_ids": [*held.report_ids, "r-9"]})
    staged.partition = 0
    staged.save(changed)
    staged.index_report("r-9", held.case.id)
    staged.set_fold("fold-1", None)
    assert staged.record(held.case.id) is changed and staged.before(held.case.id) is held
    assert memory.records[held.case.id] is held  # held back until apply
    staged.apply()
    assert memory.records[held.case.id] is changed
    assert memory.reports["r-9"] == held.case.id and "r-2" not in memory.reports
    assert "fold-1" not in memory.folds


class _GlobalTable(dict[str, object]):
    """A global table's face: each set or delete recorded with the changelog
    partition it was pinned to (one changelog record each)."""

    def __init__(self) -> None:
        super().__init__()
        self.pinned: int | None = None
        self.sent: list[tuple[str, int | None]] = []

    def __setitem__(self, key: str, value: object) -> None:
        self.sent.append((key, self.pinned))
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self.sent.append((key, self.pinned))
        super().__delitem__(key)


async def test_the_border_index_gets_one_record_per_cell_a_batch_changed(table: StateTable) -> None:
    memory = CaseMemory(table, WINDOW)
    borders = _GlobalTable()
    borders["gone"] = [["990101001001-000000000009", 39.9, 116.38]]
    borders.sent.clear()
    staged = StagedCaseStore(memory, {}, borders=borders)
    staged.partition = 2
    first = NearEntry("990101001001-000000000001", 39.9022, 116.383)
    second = NearEntry("990101001001-000000000002", 39.9023, 116.383)
    staged.set_border(CELL, [first])
    staged.set_border(CELL, [first, second])
    staged.set_border("gone", [])
    assert staged.border(CELL) == [first, second]  # the batch reads its own writes
    assert staged.border("gone") == [] and CELL not in borders  # held back until apply
    staged.apply()
    assert sorted(borders.sent) == [(CELL, 2), ("gone", 2)]
    assert borders[CELL] == [[e.case_id, e.lat, e.lon] for e in (first, second)]
    assert "gone" not in borders and borders.pinned is None
    assert StagedCaseStore(memory, {}, borders=borders).border(CELL) == [first, second]
