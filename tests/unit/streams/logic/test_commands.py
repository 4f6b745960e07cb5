"""Commands through the case logic: every accepted change is an event, every
refusal names its rule; supervision marks at 75 / 100 / 150 % of the SLA."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from schemas.cases import (
    AbsorbMerge,
    Action,
    CaseCommand,
    CaseEventType,
    CaseState,
    FollowReport,
    JoinNearby,
    SlaState,
    SuperviseTick,
)
from streams.logic.casestore import DictCaseStore
from streams.logic.casework import CaseWork
from streams.logic.commands import ACTION_HANDLERS, INTERNAL_HANDLERS, handle_command
from streams.logic.intake import normalise
from tests.support.envelopes import WHEN, report_envelope

MEDIA_ID = "0123456789abcdef0123456789abcdef"  # an id POST /api/v1/media would give


@pytest.fixture
def work(district):
    return CaseWork(district, DictCaseStore(), merge_window=timedelta(hours=48))


def open_case(work, district, category: str = "garbage") -> str:
    envelope = report_envelope(category=category).model_copy(update={"time": WHEN})
    return work.on_report(normalise(envelope, district, WHEN)).events[-1].case_id


def command(case_id: str, minutes: float = 1, role: str = "operator", scope=None, **body: Any):
    return CaseCommand(
        command_id=str(uuid.uuid4()),
        case_id=case_id,
        actor=f"{role}:tester",
        role=role,
        scope=scope,
        time=WHEN + timedelta(minutes=minutes),
        body=body or SuperviseTick(),
    )


def run(work, cmd):
    outcome = handle_command(work, cmd)
    return outcome


def test_full_loop_to_closure(work, district):
    cid = open_case(work, district)  # garbage → chengguan
    dept = {"role": "department", "scope": "chengguan"}
    steps = [
        ({"action": "accept"}, [CaseEventType.ACCEPTED], CaseState.IN_PROGRESS),
        (
            {"action": "resolve", "note": "清运完毕", "media": [MEDIA_ID]},
            [CaseEventType.RESOLVED],
            CaseState.RESOLVED,
        ),
    ]
    for body, types, state in steps:
        out = run(work, command(cid, **dept, **body))
        assert [e.type for e in out.events] == types and out.result.accepted
        assert out.result.state is state
    out = run(work, command(cid, 90, "grid_worker", action="verify", passed=True, note="ok"))
    assert [e.type for e in out.events] == [CaseEventType.VERIFIED, CaseEventType.CLOSED]
    case = out.events[-1].case
    assert case.state is CaseState.CLOSED and case.closed_at is not None
    assert case.resolution == {"note": "清运完毕", "media": [MEDIA_ID]}
    rated = run(work, command(cid, 200, "operator", action="rate", score=5))
    assert rated.events[-1].case.satisfaction == 5
    versions = [e.version for e in out.events]
    assert versions == sorted(versions)


def test_refusals_name_the_rule(work, district):
    cid = open_case(work, district)
    out = run(work, command(cid, action="verify", passed=True))
    assert not out.result.accepted and out.result.rule == "verify_pass"
    assert "not allowed from dispatched" in out.result.reason
    assert out.events == []
    wrong_dept = run(work, command(cid, role="department", scope="gongan", action="accept"))
    assert not wrong_dept.result.accepted and wrong_dept.result.rule == "scope"
    missing = run(work, command("990101001001-000000000000", action="accept"))
    assert not missing.result.accepted and missing.result.rule == "exists"


def test_a_repeated_command_id_is_applied_once(work, district):
    cid = open_case(work, district)
    cmd = command(cid, action="comment", note="看一下")
    assert len(run(work, cmd).events) == 1
    again = run(work, cmd)
    assert again.events == [] and again.result.rule == "already_applied"


def test_return_reroutes_elsewhere(work, district):
    cid = open_case(work, district, category="road_damage")  # rule → shizheng, then zhujian
    first = work.store.record(cid).case.lead_department
    out = run(
        work, command(cid, role="department", scope=first, action="return", reason="非我单位")
    )
    assert [e.type for e in out.events] == [CaseEventType.RETURNED, CaseEventType.DISPATCHED]
    case = out.events[-1].case
    assert case.lead_department not in (None, first)
    assert first in case.excluded_departments


def test_failed_verification_is_rework_with_a_new_deadline(work, district):
    cid = open_case(work, district)
    dept = {"role": "department", "scope": "chengguan"}
    run(work, command(cid, **dept, action="resolve", note="done"))
    before = work.store.record(cid).case.resolve_by
    out = run(
        work,
        command(cid, 3 * 24 * 60, "grid_worker", action="verify", passed=False, reason="仍有垃圾"),
    )
    assert [e.type for e in out.events] == [CaseEventType.VERIFIED, CaseEventType.REWORKED]
    case = out.events[-1].case
    assert case.state is CaseState.DISPATCHED and case.rework_count == 1
    assert case.resolve_by > before


def test_reopen_of_a_closed_case(work, district):
    cid = open_case(work, district)
    dept = {"role": "department", "scope": "chengguan"}
    run(work, command(cid, **dept, action="resolve", note="done"))
    run(work, command(cid, 5, action="verify", passed=True))
    out = run(work, command(cid, 10, action="reopen", note="又脏了"))
    assert out.events[-1].case.state is CaseState.DISPATCHED
    assert out.events[-1].case.rework_count == 1


def test_reject_and_merge_are_terminal(work, district):
    a = open_case(work, district, category="other")  # stays open
    out = run(work, command(a, action="reject", reason="重复上报"))
    assert out.events[-1].case.state is CaseState.REJECTED
    b = open_case(work, district)
    target = "990101001001-ffffffffffff"
    merged = run(work, command(b, action="merge", into=target))
    assert merged.events[-1].case.merged_into == target
    [absorb] = merged.follow_ups
    assert absorb.case_id == target and absorb.body.merged_from == b


def test_absorb_adds_the_merged_reports(work, district):
    a = open_case(work, district)
    b = open_case(work, district, category="noise")
    merged = run(work, command(b, action="merge", into=a))
    absorbed = run(work, merged.follow_ups[0])
    case = absorbed.events[-1].case
    assert case.id == a and case.report_count == 2


def test_supervision_marks_at_75_100_150_percent(work, district):
    cid = open_case(work, district)
    run(work, command(cid, 0.5, role="department", scope="chengguan", action="accept"))
    record = work.store.record(cid)
    start, end = record.sla_started_at, record.case.resolve_by
    at = lambda share: (start + (end - start) * share - WHEN).total_seconds() / 60  # noqa: E731
    assert run(work, command(cid, at(0.5))).events == []
    [warn] = run(work, command(cid, at(0.76))).events
    assert warn.type is CaseEventType.SUPERVISED and warn.case.sla_state is SlaState.WARNING
    assert run(work, command(cid, at(0.8))).events == []
    [overdue] = run(work, command(cid, at(1.01))).events
    assert overdue.type is CaseEventType.ESCALATED
    assert overdue.case.sla_state is SlaState.OVERDUE and overdue.case.escalation_level == 1
    [again] = run(work, command(cid, at(1.51))).events
    assert again.case.escalation_level == 2 and again.data["mark"] == "escalation_150"
    assert run(work, command(cid, at(3))).events == []


def test_a_late_tick_raises_every_mark_due(work, district):
    """Not accepted in time (签收时限) and past every mark of the resolve SLA."""
    cid = open_case(work, district)
    record = work.store.record(cid)
    late = (record.case.resolve_by - WHEN).total_seconds() / 60 * 3
    events = run(work, command(cid, late)).events
    assert [e.data["mark"] for e in events] == [
        "respond_overdue",
        "warning",
        "overdue",
        "escalation_150",
    ]
    assert events[0].data["task"] == "t1" and events[0].data["department"] == "chengguan"


def test_every_action_a_caller_may_send_has_a_handler():
    internal = {Action.OPEN, Action.ATTACH_REPORT}  # the stream's own, refused in CaseAction
    assert set(ACTION_HANDLERS) == set(Action) - internal
    # OpenHere opens a case, so it is handled before any case is looked up.
    assert set(INTERNAL_HANDLERS) == {SuperviseTick, AbsorbMerge, FollowReport, JoinNearby}


def test_the_writer_asks_the_case_policy_again(work, district):
    """The gateway checks the policy before it sends; the bus is not trusted to have."""
    cid = open_case(work, district, category="other")  # stays open
    leader = run(work, command(cid, role="leader", action="dispatch", department="chengguan"))
    assert not leader.result.accepted and leader.result.rule == "role"
    system = run(work, command(cid, role="system", action="reject", reason="x"))
    assert not system.result.accepted and system.result.rule == "role"
    into_itself = run(work, command(cid, action="merge", into=cid))
    assert into_itself.result.rule == "merge"
    same = run(
        work, command(cid, action="reprioritise", priority=work.store.record(cid).case.priority)
    )
    assert same.result.rule == "reprioritise"
    elsewhere = run(
        work, command(cid, role="grid_worker", scope="990101003", action="comment", note="x")
    )
    assert elsewhere.result.rule == "scope"
    assert work.store.record(cid).case.version == 1  # nothing applied half-way
