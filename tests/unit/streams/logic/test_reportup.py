"""Report-up decisions: which alerts and notifications each case event raises."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from routing.district import District
from schemas.alerts import ALERT_TYPE_PREFIX, Alert, AlertKind
from schemas.cases import CaseEventType, CaseState, Priority
from streams.logic.reportup import (
    DUTY_OFFICE,
    LEADERS,
    ReportUp,
    alert_notifications,
    became_p1,
    report_up,
)
from tests.support.cases import CaseStory
from tests.support.duty import CO, LEAD, Desk

CASE = "110105001001-abc"


def names(code: str) -> str:
    return {"road.pothole": "道路坑洞"}.get(code, code)


def story(priority: Priority = Priority.P3) -> CaseStory:
    return CaseStory.open(CASE, priority=priority)


def ids(items) -> list[str]:
    return [i.id for i in items]


def test_a_p1_case_is_reported_up_once_with_the_duty_office_told():
    opened = story(Priority.P1).events[0]
    decision = report_up(opened, None, names)
    [alert] = decision.alerts
    assert alert.id == f"p1_case:{CASE}"
    assert alert.kind is AlertKind.P1_CASE
    assert alert.grid_code == opened.case.grid_code
    assert alert.case_id == CASE and alert.priority is Priority.P1
    assert "道路坑洞" in alert.title
    [note] = decision.notifications
    assert note.id == f"duty_office:p1_case:{CASE}"
    assert note.recipient == DUTY_OFFICE
    assert note.channel == "app"
    assert note.event_type == f"{ALERT_TYPE_PREFIX}p1_case"
    assert note.data["alert_id"] == alert.id
    # a replay decides exactly the same, ids included
    assert report_up(opened, None, names) == decision


def test_a_routine_case_raises_nothing_on_opening():
    assert report_up(story(Priority.P3).events[0], None, names).alerts == ()
    assert report_up(story(Priority.P3).events[0], None, names).notifications == ()


def test_reprioritised_to_p1_is_reported_but_not_other_changes():
    s = story(Priority.P3)
    up = s.step(CaseEventType.REPRIORITISED, data={"from": "P3", "to": "P1"}, priority=Priority.P1)
    assert ids(report_up(up, Priority.P3).alerts) == [f"p1_case:{CASE}"]
    down = s.step(
        CaseEventType.REPRIORITISED, data={"from": "P1", "to": "P2"}, priority=Priority.P2
    )
    assert report_up(down, Priority.P1).alerts == ()


@pytest.mark.parametrize(
    ("previous", "alerted"),
    [(Priority.P3, True), (None, True), (Priority.P1, False)],
    ids=["made-p1", "unknown-resends-same-id", "already-p1"],
)
def test_report_attached_that_made_the_case_p1(previous, alerted):
    s = story(Priority.P3)
    attached = s.step(CaseEventType.REPORT_ATTACHED, data={"priority": "P1"}, priority=Priority.P1)
    assert became_p1(attached, previous) is alerted
    expected = [f"p1_case:{CASE}"] if alerted else []
    assert ids(report_up(attached, previous).alerts) == expected


def test_a_p1_case_after_other_events_is_not_reported_again():
    s = story(Priority.P1)
    dispatched = s.dispatch("chengguan")
    decision = report_up(dispatched, Priority.P1)
    assert decision.alerts == ()
    [note] = decision.notifications
    assert note.recipient == "department:chengguan"
    assert note.id == f"dispatched:department:chengguan:{CASE}:2"
    assert note.event_type == "org.gridhub.case.dispatched"
    assert "处置时限" in note.body


def test_sla_warning_overdue_and_escalations():
    s = story()
    s.dispatch("chengguan")
    warn = s.step(CaseEventType.SUPERVISED, data={"mark": "warning"})
    decision = report_up(warn, Priority.P3)
    assert ids(decision.alerts) == [f"sla_warning:{CASE}:3"]
    assert decision.alerts[0].kind is AlertKind.SLA_WARNING
    # 督办 goes to the department holding the case; the duty office is not paged
    assert [n.recipient for n in decision.notifications] == ["department:chengguan"]

    overdue = s.step(CaseEventType.ESCALATED, data={"mark": "overdue"}, escalation_level=1)
    decision = report_up(overdue, Priority.P3)
    assert ids(decision.alerts) == [f"sla_overdue:{CASE}:4", f"escalation:{CASE}:4"]
    assert [a.kind for a in decision.alerts] == [AlertKind.SLA_OVERDUE, AlertKind.ESCALATION]
    assert decision.alerts[0].detail["mark"] == "overdue"

    late = s.step(CaseEventType.ESCALATED, data={"mark": "escalation_150"}, escalation_level=2)
    assert ids(report_up(late, Priority.P3).alerts) == [f"escalation:{CASE}:5"]

    manual = s.step(CaseEventType.ESCALATED, actor="operator:wang", data={"reason": "群众反映强烈"})
    [alert] = report_up(manual, Priority.P3).alerts
    assert alert.id == f"escalation:{CASE}:6"
    assert alert.detail["reason"] == "群众反映强烈"
    assert "operator:wang" in alert.title


def test_supervised_without_warning_mark_raises_nothing():
    s = story()
    s.dispatch()
    other = s.step(CaseEventType.SUPERVISED, data={"mark": "something-else"})
    assert report_up(other, Priority.P3).alerts == ()


def test_rework_goes_back_to_the_lead_department():
    s = story()
    s.dispatch("zhujian")
    s.resolve()
    reworked = s.step(
        CaseEventType.REWORKED,
        data={"reason": "仍有积水", "department": "zhujian"},
        state=CaseState.DISPATCHED,
        rework_count=1,
    )
    [note] = report_up(reworked, Priority.P3).notifications
    assert note.recipient == "department:zhujian"
    assert note.id == f"reworked:department:zhujian:{CASE}:{reworked.version}"
    assert "仍有积水" in note.body


@pytest.mark.parametrize("final", ["resolved", "closed", "rejected"])
def test_reporters_hear_the_outcome(final):
    s = story()
    s.dispatch()
    if final == "rejected":
        event = s.step(
            CaseEventType.REJECTED, data={"reason": "不属于受理范围"}, state=CaseState.REJECTED
        )
    elif final == "resolved":
        event = s.resolve()
    else:
        s.resolve()
        event = s.close()
    notes = report_up(event, Priority.P3, report_ids=["r-1", "r-2", "r-1"]).notifications
    assert [n.recipient for n in notes] == ["reporter:r-1", "reporter:r-2"]
    assert [n.id for n in notes] == [
        f"{final}:reporter:r-1:{CASE}:{event.version}",
        f"{final}:reporter:r-2:{CASE}:{event.version}",
    ]
    assert {n.channel for n in notes} == {"app"}
    assert all(n.case_id == CASE for n in notes)
    if final == "rejected":
        assert "不属于受理范围" in notes[0].body


def test_accepted_and_comments_tell_nobody():
    s = story()
    s.dispatch()
    assert report_up(s.accept(), Priority.P3) == ReportUp()
    assert report_up(s.step(CaseEventType.COMMENTED), Priority.P3) == ReportUp()


def hotspot() -> Alert:
    return Alert(
        id="hotspot:990101001001001:garbage:2026-11-26T09:00:00Z",
        kind=AlertKind.HOTSPOT,
        time=datetime(2026, 11, 26, 9, 4, tzinfo=UTC),
        grid_code="990101001001001",
        category="garbage",
        title="garbage: 5 reports in 1h",
        detail={"count": 5},
    )


def test_hotspot_alerts_page_the_duty_office_and_sla_alerts_do_not():
    [note] = alert_notifications(hotspot())
    assert note.recipient == DUTY_OFFICE
    assert note.id == f"duty_office:{hotspot().id}"
    assert "5" in note.body
    sla = hotspot().model_copy(update={"kind": AlertKind.SLA_WARNING, "id": "sla_warning:x:1"})
    assert alert_notifications(sla) == []


def test_the_source_system_hears_every_change_of_its_cases():
    first = story().events[0]
    own = first.model_copy(
        update={
            "case": first.case.model_copy(
                update={"source": "urn:gridhub:gateway", "external_ref": "x"}
            )
        }
    )
    assert not [
        n for n in report_up(own, None, names).notifications if n.recipient.startswith("system:")
    ]
    external = own.model_copy(
        update={
            "case": own.case.model_copy(
                update={"source": "urn:citymgmt:platform", "external_ref": "CG1"}
            )
        }
    )
    [note] = [
        n
        for n in report_up(external, None, names).notifications
        if n.recipient.startswith("system:")
    ]
    assert note.recipient == "system:urn:citymgmt:platform"
    assert "CG1" in note.body and note.case_id == own.case.id


# -- joint work and the duty office (through the real case logic) ------------------


def notes_of(event, previous=Priority.P3):
    return [(n.recipient, n.subject) for n in report_up(event, previous).notifications]


def test_each_department_given_a_task_is_told(district):
    desk = Desk.open(district)
    dispatched = desk.events[-1]
    assert [r for r, _ in notes_of(dispatched)] == [f"department:{LEAD}", f"department:{CO}"]
    assert "主办" in notes_of(dispatched)[0][1] and "协办" in notes_of(dispatched)[1][1]
    desk.ok(desk.send(action="reassign", department="gongan", reason="不回应"))
    assert [r for r, _ in notes_of(desk.events[-1])] == ["department:gongan"]
    desk.ok(desk.send(action="add_department", department="huanbao"))
    assert [r for r, _ in notes_of(desk.events[-1])] == ["department:huanbao"]


def test_what_departments_ask_of_the_duty_office_reaches_it(district):
    desk = Desk.open(district)
    desk.ok(desk.dept(CO, action="return", reason="不归住建"))
    assert notes_of(desk.events[-1]) == [
        (DUTY_OFFICE, f"协办退回：illegal_construction（{desk.case_id}）")
    ]
    until = desk.case.resolve_by + timedelta(days=1)
    desk.ok(desk.dept(LEAD, action="request_extension", until=until, reason="等评估"))
    assert [r for r, _ in notes_of(desk.events[-1])] == [DUTY_OFFICE]
    desk.ok(desk.send(action="decide_extension", approved=True))
    assert [r for r, _ in notes_of(desk.events[-1])] == [f"department:{LEAD}"]
    desk.ok(desk.send(action="order", level="一般", reply_by=desk.at(300), text="请说明"))
    assert [r for r, _ in notes_of(desk.events[-1])] == [f"department:{LEAD}"]
    desk.ok(desk.dept(LEAD, action="reply", order="o1", text="已处理"))
    assert [r for r, _ in notes_of(desk.events[-1])] == [DUTY_OFFICE]


def test_escalation_climbs_from_the_duty_office_to_the_leaders(district):
    desk = Desk.open(district, "garbage")
    desk.ok(desk.dept("chengguan", action="accept"))
    late = (desk.case.resolve_by - desk.start).total_seconds() / 60 * 2
    desk.minute = late
    tick = desk.send(role="system", action="supervise")
    by_mark = {e.data["mark"]: e for e in tick.events}
    overdue = report_up(by_mark["overdue"], Priority.P4)
    assert by_mark["overdue"].case.escalation_level == 1
    assert sorted(n.recipient for n in overdue.notifications) == [
        "department:chengguan",
        DUTY_OFFICE,
    ]
    climbed = report_up(by_mark["escalation_150"], Priority.P4)
    assert by_mark["escalation_150"].case.escalation_level == 2
    assert sorted(n.recipient for n in climbed.notifications) == [
        "department:chengguan",
        DUTY_OFFICE,
        LEADERS,
    ]
    warned = report_up(by_mark["warning"], Priority.P4)
    assert [n.recipient for n in warned.notifications] == ["department:chengguan"]


def test_overdue_deadlines_reach_the_duty_office_and_whose_deadline_it_is(district):
    desk = Desk.open(district)
    desk.ok(
        desk.send(
            action="order", level="挂牌", reply_by=desk.at(10), text="限期答复", department=CO
        )
    )
    desk.minute = 60 * 30  # past the responses (24 h) and the order's reply deadline
    tick = desk.send(role="system", action="supervise")
    marks = [e.data["mark"] for e in tick.events]
    assert marks == ["order_overdue", "respond_overdue", "respond_overdue"]
    order = report_up(tick.events[0], Priority.P3)
    [alert] = order.alerts
    assert alert.kind is AlertKind.ORDER_OVERDUE and alert.detail["department"] == CO
    assert sorted(n.recipient for n in order.notifications) == [
        f"department:{CO}",
        DUTY_OFFICE,
        LEADERS,  # 挂牌: the leaders hear of it
    ]
    respond = report_up(tick.events[2], Priority.P3)
    assert respond.alerts[0].kind is AlertKind.RESPOND_OVERDUE
    assert sorted(n.recipient for n in respond.notifications) == [f"department:{CO}", DUTY_OFFICE]


def test_the_source_system_gets_its_number_its_status_code_and_the_department():
    statuses = District.load().statuses
    s = story()
    s.dispatch()
    s.resolve()
    s.close()
    codes = []
    for event in s.events:
        external = event.model_copy(
            update={
                "case": event.case.model_copy(
                    update={"source": "urn:system:citymgmt", "external_ref": "CG42"}
                )
            }
        )
        decision = report_up(
            external, None, names, lambda src, st: statuses.status(src, st).as_json()
        )
        [note] = [n for n in decision.notifications if n.recipient.startswith("system:")]
        assert note.data["external_ref"] == "CG42" and note.data["version"] == event.version
        assert note.data["department"] == event.case.lead_department
        codes.append(note.data["source_status"]["code"])
    assert codes == ["10", "20", "40", "50"]  # 立案, 派遣, 处置完毕, 结案
