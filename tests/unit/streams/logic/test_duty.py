"""The duty office's commands of DESIGN.md §3, command by command, through the
case logic: joint enforcement (each department's task), reassign, team changes,
extensions, deferral, supervision orders, the deadlines that follow the facts —
and every refusal naming its rule."""

from __future__ import annotations

from datetime import timedelta

import pytest

from schemas.cases import CaseCommand, CaseEventType, CaseState, Priority
from schemas.duty import ExtensionState, OrderLevel, OrderState, TaskRole, TaskState
from streams.logic.casestore import DictCaseStore
from streams.logic.casework import CaseWork
from streams.logic.commands import handle_command
from streams.logic.supervision import due_marks
from tests.support.duty import CO, LEAD, PHOTO, Desk


@pytest.fixture
def work(district) -> CaseWork:
    return CaseWork(district, DictCaseStore(), merge_window=timedelta(hours=48))


def opened(work: CaseWork, district, category: str = "illegal_construction") -> Desk:
    return Desk.open(district, category, work=work)


@pytest.fixture
def joint(work, district) -> Desk:
    desk = opened(work, district)
    assert desk.case.state is CaseState.DISPATCHED
    return desk


# -- joint enforcement ---------------------------------------------------------------


def test_routing_gives_the_lead_and_each_co_department_a_task(joint: Desk) -> None:
    case = joint.case
    assert [(t.id, t.department, t.role, t.state) for t in case.tasks] == [
        ("t1", LEAD, TaskRole.LEAD, TaskState.DISPATCHED),
        ("t2", CO, TaskRole.CO, TaskState.DISPATCHED),
    ]
    assert case.lead_department == LEAD and case.departments == [LEAD, CO]
    assert case.dispatched_at == case.tasks[0].dispatched_at
    assert case.due_by == case.resolve_by == case.tasks[1].resolve_by
    assert all(t.version == case.version for t in case.tasks)


def test_a_co_department_acts_on_its_own_task_only(joint: Desk) -> None:
    assert joint.ok(joint.dept(CO, action="accept")) == [CaseEventType.TASK_CHANGED]
    assert joint.case.state is CaseState.DISPATCHED  # the lead has not accepted
    assert joint.task(CO).state is TaskState.IN_PROGRESS
    out = joint.dept(CO, action="resolve", note="住建已出具认定意见", media=[PHOTO])
    assert joint.ok(out) == [CaseEventType.TASK_CHANGED]
    assert out.events[0].data == {
        "action": "resolve",
        "task": "t2",
        "department": CO,
        "role": "co",
        "state": "done",
        "note": "住建已出具认定意见",
        "media": [PHOTO],
    }
    assert joint.case.state is CaseState.DISPATCHED and joint.task(CO).note
    assert joint.task(LEAD).state is TaskState.DISPATCHED
    joint.refused(joint.dept(CO, action="resolve", note="again"), "task_resolve")


def test_a_co_departments_return_never_removes_the_lead(joint: Desk) -> None:
    """The M5 finding: a co-department's return excluded the lead and was recorded
    as the lead's return. Now its task goes back to the duty office."""
    out = joint.dept(CO, action="return", reason="非我局职责")
    assert joint.ok(out) == [CaseEventType.TASK_CHANGED]
    case = joint.case
    assert case.state is CaseState.DISPATCHED and case.lead_department == LEAD
    assert case.excluded_departments == [] and case.departments == [LEAD]
    assert joint.task(CO).state is TaskState.RETURNED and joint.task(CO).reason == "非我局职责"
    # The returned task is the duty office's to reassign or release: it still
    # holds the lead's resolve back.
    reason = joint.refused(joint.dept(LEAD, action="resolve", note="done"), "joint_tasks")
    assert f"{CO} (returned)" in reason
    assert joint.ok(joint.send(action="release_task", department=CO, reason="无需住建"))
    assert joint.ok(joint.dept(LEAD, action="resolve", note="拆除完毕")) == [CaseEventType.RESOLVED]


def test_the_leads_resolve_waits_for_the_co_departments_task(joint: Desk) -> None:
    joint.ok(joint.dept(LEAD, action="accept"))
    assert joint.case.state is CaseState.IN_PROGRESS
    joint.refused(joint.dept(LEAD, action="resolve", note="拆除"), "joint_tasks")
    joint.ok(joint.dept(CO, action="accept"))  # the case is in progress; its task is not
    joint.ok(joint.dept(CO, action="resolve", note="认定完成"))
    out = joint.dept(LEAD, action="resolve", note="拆除完毕", media=["1f" * 16])
    assert joint.ok(out) == [CaseEventType.RESOLVED]
    case = joint.case
    assert case.state is CaseState.RESOLVED and joint.task(LEAD).state is TaskState.DONE
    assert case.verify_by == joint.work.district.verify_by(case.priority, out.events[0].time)


def test_a_department_without_a_task_may_not_act(joint: Desk) -> None:
    joint.refused(joint.dept("huanbao", action="accept"), "scope")
    joint.refused(joint.dept("huanbao", action="reply", order="o1", text="x"), "scope")


def test_the_lead_returns_the_case_and_keeps_the_clock(work, district) -> None:
    desk = opened(work, district, category="road_damage")  # shizheng, then zhujian
    deadline = desk.case.resolve_by
    out = desk.dept("shizheng", action="return", reason="施工破损")
    assert desk.ok(out) == [CaseEventType.RETURNED, CaseEventType.DISPATCHED]
    case = desk.case
    assert case.lead_department == "zhujian" and case.excluded_departments == ["shizheng"]
    assert [(t.department, t.state) for t in case.tasks] == [
        ("shizheng", TaskState.RETURNED),
        ("zhujian", TaskState.DISPATCHED),
    ]
    assert case.resolve_by == deadline  # the SLA clock runs from the first dispatch


def test_dispatch_by_hand_with_co_departments(work, district) -> None:
    desk = opened(work, district, category="other")  # no rule: open
    desk.refused(
        desk.send(action="dispatch", department=LEAD, co_departments=["nowhere"]), "department"
    )
    desk.refused(desk.send(action="dispatch", department=LEAD, co_departments=[LEAD]), "department")
    desk.ok(desk.send(action="dispatch", department=LEAD, co_departments=[CO, "gongan"]))
    assert [(t.department, t.role) for t in desk.case.tasks] == [
        (LEAD, TaskRole.LEAD),
        (CO, TaskRole.CO),
        ("gongan", TaskRole.CO),
    ]


# -- reassign, team ----------------------------------------------------------------------


def test_reassign_the_case_keeps_the_clock(joint: Desk) -> None:
    joint.ok(joint.dept(LEAD, action="accept"))
    before = joint.case
    out = joint.send(action="reassign", department="gongan", reason="城管不回应")
    assert joint.ok(out) == [CaseEventType.REASSIGNED]
    case = joint.case
    assert case.state is CaseState.DISPATCHED and case.lead_department == "gongan"
    assert joint.task(LEAD).state is TaskState.REASSIGNED and joint.task(LEAD).reason
    new = joint.task("gongan")
    assert new.role is TaskRole.LEAD and new.state is TaskState.DISPATCHED
    assert case.resolve_by == before.resolve_by == new.resolve_by  # the clock runs on
    assert case.due_by == before.due_by
    assert new.respond_by is not None and new.respond_by > before.respond_by  # its own
    assert case.departments == ["gongan", CO]
    assert out.events[0].data["from"] == LEAD and out.events[0].data["task"] == new.id
    joint.refused(joint.dept(LEAD, action="resolve", note="x"), "scope")  # not its case now


def test_reassign_with_a_fresh_clock(joint: Desk) -> None:
    before = joint.case.resolve_by
    joint.minute = 600
    joint.ok(
        joint.send(action="reassign", department="gongan", reason="重新派", restart_clock=True)
    )
    assert joint.case.resolve_by > before and joint.case.due_by == joint.case.resolve_by


def test_reassign_one_task(joint: Desk) -> None:
    joint.ok(joint.dept(CO, action="return", reason="不归住建"))
    joint.ok(joint.send(action="reassign", task=CO, department="gongan", reason="改派公安"))
    case = joint.case
    assert joint.task(CO).state is TaskState.REASSIGNED  # and no longer holds the lead back
    assert joint.task("gongan").role is TaskRole.CO and case.lead_department == LEAD


def test_reassign_refusals_name_their_rule(joint: Desk) -> None:
    joint.refused(joint.send(action="reassign", department=CO, reason="x"), "task")
    joint.refused(joint.send(action="reassign", department="mars", reason="x"), "department")
    joint.refused(
        joint.send(action="reassign", task="huanbao", department="gongan", reason="x"), "task"
    )
    joint.refused(joint.dept(LEAD, action="reassign", department="gongan", reason="x"), "role")


def test_add_remove_and_release_co_departments(joint: Desk) -> None:
    joint.ok(joint.send(action="add_department", department="gongan"))
    assert joint.task("gongan").role is TaskRole.CO and "gongan" in joint.case.departments
    joint.refused(joint.send(action="add_department", department="gongan"), "task")
    joint.refused(joint.send(action="add_department", department=LEAD), "task")
    joint.ok(joint.send(action="remove_department", department="gongan"))
    assert joint.task("gongan").state is TaskState.RELEASED
    assert "gongan" not in joint.case.departments
    joint.ok(joint.dept(CO, action="accept"))
    joint.refused(joint.send(action="remove_department", department=CO), "task")  # accepted
    joint.ok(joint.send(action="release_task", department=CO, reason="不再需要"))
    joint.refused(joint.send(action="release_task", department=CO), "task")
    joint.refused(joint.send(action="remove_department", department=LEAD), "task")


# -- extensions, deferral ----------------------------------------------------------------


def test_an_approved_extension_moves_the_deadline_and_due_by(joint: Desk) -> None:
    before = joint.case
    until = before.resolve_by + timedelta(days=2)
    joint.refused(
        joint.dept(LEAD, action="request_extension", until=before.resolve_by, reason="x"),
        "until",
    )
    out = joint.dept(LEAD, action="request_extension", until=until, reason="需协调产权单位")
    assert joint.ok(out) == [CaseEventType.EXTENSION_REQUESTED]
    assert joint.case.resolve_by == before.resolve_by  # nothing moves before a decision
    joint.refused(
        joint.dept(LEAD, action="request_extension", until=until, reason="again"),
        "extension_pending",
    )
    joint.refused(
        joint.send(action="decide_extension", approved=True, extension="x9"), "no_pending_extension"
    )
    out = joint.send(action="decide_extension", approved=True, reason="同意")
    assert joint.ok(out) == [CaseEventType.EXTENSION_DECIDED]
    case = joint.case
    [extension] = case.extensions
    assert extension.state is ExtensionState.APPROVED and extension.decided_by
    assert case.resolve_by == until == joint.task(LEAD).resolve_by
    assert case.due_by == before.due_by + timedelta(days=2)
    assert joint.task(LEAD).extended == 1
    joint.refused(joint.send(action="decide_extension", approved=True), "no_pending_extension")


def test_a_co_departments_extension_moves_its_task_only(joint: Desk) -> None:
    before = joint.case
    until = before.resolve_by + timedelta(days=1)
    joint.ok(joint.dept(CO, action="request_extension", until=until, reason="等检测报告"))
    joint.ok(joint.send(action="decide_extension", approved=False, reason="不同意"))
    assert joint.case.extensions[0].state is ExtensionState.REFUSED
    assert joint.task(CO).resolve_by == before.resolve_by
    joint.ok(joint.dept(CO, action="request_extension", until=until, reason="再申请"))
    joint.ok(joint.send(action="decide_extension", approved=True, extension="x2"))
    assert joint.task(CO).resolve_by == until
    assert joint.case.resolve_by == before.resolve_by and joint.case.due_by == before.due_by


def test_a_refused_extension_needs_a_reason(joint: Desk) -> None:
    with pytest.raises(ValueError, match="reason"):
        joint.send(action="decide_extension", approved=False)


def test_defer_pauses_the_sla_and_resume_moves_every_deadline(joint: Desk) -> None:
    before = joint.case
    joint.ok(joint.send(action="defer", reason="等待法院裁定"))
    deferred_minute = joint.minute
    assert joint.case.deferred_at is not None and joint.case.deferrals == 1
    record = joint.work.store.record(joint.case_id)
    late = before.resolve_by + timedelta(days=10)
    assert due_marks(record, late) == []  # nothing supervised while deferred
    joint.refused(joint.send(action="defer", reason="again"), "deferred")
    joint.refused(joint.dept(LEAD, action="request_extension", until=late, reason="x"), "deferred")
    joint.minute = deferred_minute + 60 * 24 - 1  # paused a whole day
    out = joint.send(action="resume", reason="裁定已出")
    assert joint.ok(out) == [CaseEventType.RESUMED] and out.events[0].data["paused_hours"] == 24
    case = joint.case
    day = timedelta(days=1)
    assert case.deferred_at is None and case.deferrals == 1
    assert case.resolve_by == before.resolve_by + day and case.due_by == before.due_by + day
    assert joint.task(CO).resolve_by == before.tasks[1].resolve_by + day
    joint.refused(joint.send(action="resume"), "not_deferred")


# -- supervision orders -----------------------------------------------------------------


def test_an_order_is_supervised_until_answered(joint: Desk) -> None:
    reply_by = joint.at(120)
    joint.refused(
        joint.send(action="order", level="重点", reply_by=joint.at(0), text="x"), "reply_by"
    )
    joint.refused(
        joint.send(action="order", level="一般", reply_by=reply_by, text="x", department="gongan"),
        "order",
    )
    out = joint.send(action="order", level="挂牌", reply_by=reply_by, text="限期说明进展")
    assert joint.ok(out) == [CaseEventType.ORDER_ISSUED]
    [order] = joint.case.orders
    assert order.level is OrderLevel.LISTED and order.department == LEAD and order.id == "o1"
    record = joint.work.store.record(joint.case_id)
    assert "order:o1" in due_marks(record, reply_by)
    joint.refused(joint.dept(CO, action="reply", order="o1", text="x"), "order")
    joint.refused(joint.dept(LEAD, action="reply", order="o2", text="x"), "order")
    out = joint.dept(LEAD, action="reply", order="o1", text="已约谈业主，三日内拆除")
    assert joint.ok(out) == [CaseEventType.ORDER_REPLIED]
    order = joint.case.orders[0]
    assert order.state is OrderState.ANSWERED and order.reply and order.replied_by
    record = joint.work.store.record(joint.case_id)
    assert "order:o1" not in due_marks(record, reply_by)
    joint.refused(joint.dept(LEAD, action="reply", order="o1", text="again"), "order")


def test_an_unanswered_order_is_raised_by_the_timer(joint: Desk) -> None:
    joint.ok(joint.send(action="order", level="一般", reply_by=joint.at(30), text="请反馈"))
    joint.ok(joint.dept(LEAD, action="accept"))
    tick = handle_command(
        joint.work,
        CaseCommand(
            command_id="tick",
            case_id=joint.case_id,
            actor="system:supervision",
            role="system",
            time=joint.at(31),
            body={"action": "supervise"},
        ),
    )
    [event] = tick.events
    assert event.type is CaseEventType.SUPERVISED
    assert event.data["mark"] == "order_overdue" and event.data["order"] == "o1"
    assert event.data["level"] == "general" and event.data["department"] == LEAD


# -- deadlines that follow the facts --------------------------------------------------


def test_reprioritising_recomputes_the_deadlines(work, district) -> None:
    desk = opened(work, district, category="garbage")  # P4: 5 working days
    case = desk.case
    assert case.priority is Priority.P4
    desk.ok(desk.send(action="reprioritise", priority="P1", reason="堵塞消防通道"))
    after = desk.case
    start = case.dispatched_at
    assert after.resolve_by == start + timedelta(hours=4)  # P1: 4 hours, not 7 days
    assert after.respond_by == start + timedelta(minutes=30)
    assert after.due_by == after.resolve_by
    assert desk.task("chengguan").resolve_by == after.resolve_by


def test_rework_does_not_reset_due_by(joint: Desk) -> None:
    joint.ok(joint.send(action="release_task", department=CO, reason="无需"))
    joint.ok(joint.dept(LEAD, action="resolve", note="done"))
    due_by = joint.case.due_by
    joint.minute = 60 * 24 * 9
    joint.ok(joint.send(role="grid_worker", action="verify", passed=False, reason="未拆"))
    case = joint.case
    assert case.rework_count == 1 and case.resolve_by > due_by and case.due_by == due_by
    assert joint.task(LEAD).state is TaskState.DISPATCHED and case.verify_by is None


def test_parts_carry_the_version_of_their_last_change(joint: Desk) -> None:
    first = joint.case.version
    joint.ok(joint.dept(CO, action="accept"))
    case = joint.case
    assert joint.task(LEAD).version == first and joint.task(CO).version == case.version
    joint.ok(joint.send(action="comment", note="看过"))
    assert joint.task(CO).version == case.version  # a comment changes no task
