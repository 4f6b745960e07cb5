"""Case decisions on an in-memory store: open, route, dedup, near-duplicate
merge, fold keys, CAP references; deterministic events with the snapshot after each."""

from __future__ import annotations

from datetime import timedelta

import pytest

from schemas.cases import CaseEventType, CaseState, Priority
from schemas.reports import Report
from streams.logic.casestore import DictCaseStore
from streams.logic.casework import CaseWork, case_id_for
from streams.logic.intake import normalise
from streams.logic.intake.cap import cap_fold_key
from tests.support.cap_samples import (
    NO_AREA_INFO,
    SENDER,
    alert_xml,
    reference,
    references_only,
)
from tests.support.envelopes import CAP_SOURCE, GRID, LATER, cap_envelope
from tests.support.reports import nearby_report


@pytest.fixture
def work(district):
    return CaseWork(district, DictCaseStore(), merge_window=timedelta(hours=48))


def test_routable_report_opens_and_dispatches(work, district):
    rep = nearby_report(district, category="garbage")
    opened, dispatched = work.on_report(rep).events
    assert opened.type is CaseEventType.OPENED and opened.version == 1
    assert opened.report == rep
    assert opened.case.state is CaseState.OPEN
    assert dispatched.type is CaseEventType.DISPATCHED and dispatched.version == 2
    case = dispatched.case
    assert case.state is CaseState.DISPATCHED
    assert case.lead_department == "chengguan"
    assert case.respond_by is not None and case.resolve_by is not None
    assert rep.received_at < case.respond_by <= case.resolve_by
    assert case.routing_reasons and "chengguan" in case.routing_reasons[-1]
    assert case.id == case_id_for(rep) and case.id.startswith(GRID[:12])
    assert work.store.record(case.id).case == case


def test_unroutable_category_stays_open(work, district):
    events = work.on_report(nearby_report(district, category="other")).events
    assert [e.type for e in events] == [CaseEventType.OPENED]
    assert events[0].case.lead_department is None


def test_gas_keyword_is_priority_one_with_reason(work, district):
    rep = nearby_report(district, category="noise", description="楼道里有燃气味")
    case = work.on_report(rep).events[-1].case
    assert case.priority is Priority.P1
    assert any("燃气" in reason for reason in case.priority_reasons)


def test_same_report_id_twice_is_one_report(work, district):
    rep = nearby_report(district)
    assert work.on_report(rep).events
    again = work.on_report(rep)
    assert again.duplicate and again.events == []


def test_three_reports_50m_apart_in_ten_minutes_make_one_case_with_heat_3(work, district):
    first = work.on_report(nearby_report(district, 0, 0, category="garbage")).events[-1].case
    second = work.on_report(nearby_report(district, 5, 50, category="garbage")).events
    third = work.on_report(nearby_report(district, 10, 100, category="garbage")).events
    assert [e.type for e in second + third] == [CaseEventType.REPORT_ATTACHED] * 2
    case = third[-1].case
    assert case.id == first.id
    assert case.report_count == 3 and len(case.report_ids) == 3
    assert case.priority < first.priority  # heat raised it one level
    assert any("heat" in r for r in case.priority_reasons)


def test_same_category_1km_away_opens_a_second_case(work, district):
    first = work.on_report(nearby_report(district, 0, 0, category="garbage")).events[-1].case
    far = nearby_report(district, 1, 1000, category="garbage")
    events = work.on_report(far).events
    assert events[0].type is CaseEventType.OPENED
    assert events[0].case_id != first.id


def test_other_category_nearby_opens_its_own_case(work, district):
    first = work.on_report(nearby_report(district, category="garbage")).events[-1].case
    other = work.on_report(nearby_report(district, 1, 10, category="noise")).events
    assert other[0].type is CaseEventType.OPENED and other[0].case_id != first.id


def test_outside_the_time_window_opens_a_new_case(district):
    work = CaseWork(district, DictCaseStore(), merge_window=timedelta(minutes=30))
    work.on_report(nearby_report(district, 0, category="garbage"))
    late = work.on_report(nearby_report(district, 45, 10, category="garbage")).events
    assert late[0].type is CaseEventType.OPENED


def test_fold_key_joins_the_live_case(work, district):
    alarm = {"fold_key": "sensor:dev-1"}
    first = nearby_report(district, category="gas_smell").model_copy(update={"attributes": alarm})
    again = nearby_report(district, 3, 1500, category="gas_smell").model_copy(
        update={"attributes": alarm}
    )
    opened = work.on_report(first).events[-1].case
    attached = work.on_report(again).events
    assert [e.type for e in attached] == [CaseEventType.REPORT_ATTACHED]
    assert attached[0].case_id == opened.id


def test_cap_cancel_rejects_the_referenced_case_with_its_reason(work, district):
    alert = nearby_report(district, category="flooding").model_copy(
        update={"attributes": {"fold_key": "cap:sender:A1"}}
    )
    case = work.on_report(alert).events[-1].case
    cancel = nearby_report(district, 30, category="flooding").model_copy(
        update={
            "attributes": {
                "refers_to": ["cap:sender:A1"],
                "cancel": True,
                "cancel_reason": "water receded",
            }
        }
    )
    [rejected] = work.on_report(cancel).events
    assert rejected.type is CaseEventType.REJECTED
    assert rejected.case_id == case.id
    assert rejected.case.state is CaseState.REJECTED
    assert rejected.data["reason"] == "water receded"
    # A rejected case collects nothing more: the next report nearby opens anew.
    assert work.on_report(nearby_report(district, 31, 5, category="flooding")).events[0].type is (
        CaseEventType.OPENED
    )


def test_cancel_of_an_unknown_alert_is_dead_lettered(work, district):
    cancel = nearby_report(district).model_copy(
        update={"attributes": {"refers_to": ["cap:x:nope"], "cancel": True}}
    )
    outcome = work.on_report(cancel)
    assert outcome.events == [] and "no live case" in (outcome.dead_letter or "")


def test_cap_update_attaches_to_the_referenced_case(work, district):
    alert = nearby_report(district, category="flooding").model_copy(
        update={"attributes": {"fold_key": "cap:s:A1"}}
    )
    case = work.on_report(alert).events[-1].case
    update = nearby_report(district, 20, 1200, category="flooding").model_copy(
        update={"attributes": {"refers_to": ["cap:s:A1"], "fold_key": "cap:s:A2"}}
    )
    [attached] = work.on_report(update).events
    assert attached.type is CaseEventType.REPORT_ATTACHED and attached.case_id == case.id


def test_same_input_gives_identical_events(district):
    rep = nearby_report(district)
    first = CaseWork(district, DictCaseStore(), timedelta(hours=1)).on_report(rep).events
    second = CaseWork(district, DictCaseStore(), timedelta(hours=1)).on_report(rep).events
    assert first == second


def test_cap_cancel_on_another_partition_is_forwarded_to_the_case(district):
    shared: dict[str, tuple[str, str]] = {}
    here = CaseWork(district, DictCaseStore(references=shared), timedelta(hours=48))
    there = CaseWork(district, DictCaseStore(references=shared), timedelta(hours=48))
    alert = nearby_report(district, category="flooding").model_copy(
        update={"attributes": {"fold_key": "cap:s:A1"}}
    )
    case = here.on_report(alert).events[-1].case
    cancel = nearby_report(district, 30, 1200, category="flooding").model_copy(
        update={"attributes": {"refers_to": ["cap:s:A1"], "cancel": True, "cancel_reason": "x"}}
    )
    outcome = there.on_report(cancel)
    assert outcome.events == [] and outcome.forward_to == case.id
    [rejected] = here.follow(here.store.record(case.id), cancel)
    assert rejected.case.state is CaseState.REJECTED and rejected.data["reason"] == "x"
    assert here.follow(here.store.record(case.id), cancel) == []  # once


def test_cancel_referring_twice_to_one_case_rejects_it_once(work, district):
    alert = nearby_report(district, category="flooding").model_copy(
        update={"attributes": {"fold_key": "cap:s:A1"}}
    )
    case = work.on_report(alert).events[-1].case
    update = nearby_report(district, 10, 20, category="flooding").model_copy(
        update={"attributes": {"refers_to": ["cap:s:A1"], "fold_key": "cap:s:A2"}}
    )
    work.on_report(update)
    cancel = nearby_report(district, 30, category="flooding").model_copy(
        update={"attributes": {"refers_to": ["cap:s:A1", "cap:s:A2"], "cancel": True}}
    )
    events = work.on_report(cancel).events
    assert [(e.case_id, e.type) for e in events] == [(case.id, CaseEventType.REJECTED)]


def test_a_bare_update_and_cancel_follow_the_alert_to_its_case(work, district):
    """A CAP Update or Cancel with only references, placed by intake through the
    reference index, attaches to and then rejects the alert's case."""
    store = work.store

    def cap(xml: str, minutes: int) -> Report:
        event = cap_envelope(xml).model_copy(update={"time": LATER + timedelta(minutes=minutes)})
        return normalise(event, district, LATER, store.grid_of_reference)

    alert = cap(alert_xml("YJ-B1"), 0)
    case = work.on_report(alert).events[-1].case
    key = cap_fold_key(CAP_SOURCE, SENDER, "YJ-B1")
    assert store.case_of_reference(key) == case.id
    assert store.grid_of_reference(key) == case.grid_code  # the index keeps the case's grid

    update = cap(references_only("Update", "YJ-B2", reference("YJ-B1"), info=NO_AREA_INFO), 10)
    [attached] = work.on_report(update).events
    assert attached.type is CaseEventType.REPORT_ATTACHED and attached.case_id == case.id
    assert attached.case.report_count == 2
    assert store.grid_of_reference(cap_fold_key(CAP_SOURCE, SENDER, "YJ-B2")) == case.grid_code

    cancel = cap(references_only("Cancel", "YJ-B3", reference("YJ-B2"), note="预警解除"), 20)
    [rejected] = work.on_report(cancel).events
    assert rejected.case_id == case.id and rejected.case.state is CaseState.REJECTED
    assert rejected.data["reason"] == "预警解除"


def test_a_bare_update_of_a_finished_case_opens_nothing(work, district):
    alert = normalise(cap_envelope(alert_xml("YJ-B4")), district, LATER)
    case_id = work.on_report(alert).events[-1].case_id
    cancel = normalise(
        cap_envelope(references_only("Cancel", "YJ-B5", reference("YJ-B4"))),
        district,
        LATER,
        work.store.grid_of_reference,
    )
    work.on_report(cancel)
    update = normalise(
        cap_envelope(references_only("Update", "YJ-B6", reference("YJ-B4"))),
        district,
        LATER,
        work.store.grid_of_reference,
    )
    outcome = work.on_report(update)
    assert outcome.events == [] and outcome.dead_letter == (
        f"update: no live case for {[cap_fold_key(CAP_SOURCE, SENDER, 'YJ-B4')]}"
    )
    assert work.store.record(case_id).case.report_count == 1


def test_a_lost_reference_entry_is_restored_when_the_alert_comes_again(work, district):
    alert = normalise(cap_envelope(alert_xml("YJ-B7")), district, LATER)
    case = work.on_report(alert).events[-1].case
    work.store.references.clear()  # the crash fell between the writes of the batch
    assert work.on_report(alert).duplicate
    assert work.store.references[cap_fold_key(CAP_SOURCE, SENDER, "YJ-B7")] == (
        case.id,
        case.grid_code,
    )
