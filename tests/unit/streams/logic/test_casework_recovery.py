"""A crash can fall between the table writes of one batch: the case record says
a report was applied while an index entry it made never reached the changelog.
Reprocessing the report restores the entry, so later reports decide as they
would have in an undisturbed run."""

from __future__ import annotations

from datetime import timedelta

from schemas.cases import CaseEventType
from streams.logic.casestore import DictCaseStore, ring_keys
from streams.logic.casework import CaseWork
from tests.support.reports import nearby_report


def test_reprocessing_an_applied_report_restores_its_lost_index_entries(district):
    store = DictCaseStore()
    work = CaseWork(district, store, merge_window=timedelta(hours=48))
    first = nearby_report(district, category="garbage")
    case_id = work.on_report(first).events[0].case_id
    cells = dict(store.cells)
    # The crash: the case record was written, the report and near indexes were not.
    store.reports.clear()
    store.cells.clear()

    assert work.on_report(first).duplicate
    assert store.reports == {first.id: case_id}
    assert store.cells == cells

    nearby = nearby_report(district, minutes=5, north_m=30, category="garbage")
    events = work.on_report(nearby).events
    assert [e.type for e in events] == [CaseEventType.REPORT_ATTACHED]
    assert events[0].case_id == case_id


def test_reopening_after_a_lost_record_does_not_list_the_case_twice_nearby(district):
    """The other half-written batch: the near entry was written, the case record
    was not, so the report opens its case again."""
    store = DictCaseStore()
    work = CaseWork(district, store, merge_window=timedelta(hours=48))
    first = nearby_report(district, category="garbage")
    case_id = work.on_report(first).events[0].case_id
    store.records.clear()

    assert work.on_report(first).events[0].type is CaseEventType.OPENED
    [cell] = store.records[case_id].cells
    assert set(store.cells) == set(ring_keys(cell))  # indexed around its cell ...
    assert all([e.case_id for e in entries] == [case_id] for entries in store.cells.values())


def test_a_report_across_a_community_line_is_never_attached_by_its_own_partition(district):
    """Cases belong to their community's partition (one writer per case), and so
    does the near index: its keys carry the community, so a cell shared by two
    communities is never one table entry written from two changelog partitions
    (after a recovery only the partition read last would be left in it). A report
    across the line finds the case in the border index and is forwarded to it."""
    store = DictCaseStore()
    work = CaseWork(district, store, merge_window=timedelta(hours=48))
    south = nearby_report(district, category="garbage", north_m=746)  # 22 m apart, across
    north = nearby_report(district, minutes=1, category="garbage", north_m=768)  # the boundary
    assert south.community_code != north.community_code
    first = work.on_report(south).events[0]
    second = work.on_report(north)
    assert second.events == [] and second.join == first.case_id
    record = store.records[first.case_id]
    assert all(key.startswith(f"{south.community_code}|") for key in record.cells)
    assert record.border_cells == record.cells


def test_reprocessing_restores_a_lost_border_entry(district):
    store = DictCaseStore()
    work = CaseWork(district, store, merge_window=timedelta(hours=48))
    south = nearby_report(district, category="garbage", north_m=746)
    case_id = work.on_report(south).events[0].case_id
    borders = dict(store.borders)
    store.borders.clear()  # the crash: the border entry never reached its changelog
    assert work.on_report(south).duplicate
    assert store.borders == borders
    north = nearby_report(district, minutes=1, category="garbage", north_m=768)
    assert work.on_report(north).join == case_id
