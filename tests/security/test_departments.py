"""M5 — a co-department of a joint-enforcement case (联合执法) acts on its own
part only: its accept, resolve and return change its own task (DESIGN.md §3),
never the lead department's whole case, so its return cannot exclude the lead
from re-routing. Performed through the case agent's own logic (the writer asks
the case policy again, whatever the gateway let through) and seen through HTTP
(the actions a caller is offered). tests/security/test_joint_enforcement.py
performs the same moves through the live gateway."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from routing.district import District
from schemas.cases import CaseAction, CaseCommand, CaseEventType, CaseState
from schemas.duty import TaskState
from streams.logic.casestore import DictCaseStore
from streams.logic.casework import CaseWork
from streams.logic.commands import handle_command
from streams.logic.intake import normalise
from tests.support.envelopes import WHEN, report_envelope
from tests.support.security import Attacked
from tests.support.seeded_gateway import CASE_A

LEAD, CO = "chengguan", "zhujian"  # illegal construction: 城管 leads, 住建 joins


def by_department(case_id: str, scope: str, **body: Any) -> CaseCommand:
    return CaseCommand(
        command_id=str(uuid.uuid4()),
        case_id=case_id,
        actor=f"department:{scope}",
        role="department",
        scope=scope,
        time=WHEN + timedelta(minutes=5),
        body=CaseAction.model_validate(body),
    )


def joint_case() -> tuple[CaseWork, str]:
    district = District.load()
    work = CaseWork(district, DictCaseStore(), merge_window=timedelta(hours=48))  # type: ignore[arg-type]
    envelope = report_envelope(category="illegal_construction").model_copy(update={"time": WHEN})
    case_id = work.on_report(normalise(envelope, district, WHEN)).events[-1].case_id
    case = work.store.record(case_id).case
    assert case.lead_department == LEAD and CO in case.departments
    return work, case_id


def co_task_state(work: CaseWork, case_id: str) -> TaskState:
    [task] = [t for t in work.store.record(case_id).case.current_tasks() if t.department == CO]
    return task.state


def assert_the_case_is_still_the_leads(work: CaseWork, case_id: str) -> None:
    case = work.store.record(case_id).case
    assert case.state == CaseState.DISPATCHED and case.lead_department == LEAD
    assert LEAD not in case.excluded_departments


def test_m5_a_co_department_cannot_take_over_the_leads_case() -> None:
    work, case_id = joint_case()
    for body, task_state in (
        ({"action": "accept"}, TaskState.IN_PROGRESS),
        ({"action": "resolve", "note": "已拆除"}, TaskState.DONE),
    ):
        outcome = handle_command(work, by_department(case_id, CO, **body))
        assert outcome.result.accepted, body  # on its own task ...
        assert [e.type for e in outcome.events] == [CaseEventType.TASK_CHANGED], body
        assert co_task_state(work, case_id) == task_state
        assert_the_case_is_still_the_leads(work, case_id)  # ... never on the case
    # Its part done, it has nothing left to return, and the lead's case is not its.
    late = handle_command(work, by_department(case_id, CO, action="return", reason="非我单位"))
    assert not late.result.accepted and late.result.rule == "task_return" and late.events == []

    # A co-department's return sends its task back to the duty office: the lead stays.
    work, case_id = joint_case()
    returned = handle_command(work, by_department(case_id, CO, action="return", reason="非我单位"))
    assert returned.result.accepted
    assert [e.type for e in returned.events] == [CaseEventType.TASK_CHANGED]
    assert co_task_state(work, case_id) == TaskState.RETURNED
    assert_the_case_is_still_the_leads(work, case_id)
    gone = handle_command(work, by_department(case_id, CO, action="accept"))
    assert not gone.result.accepted and gone.result.rule == "task_accept"  # returned: not its now

    comment = handle_command(work, by_department(case_id, LEAD, action="comment", note="已到场"))
    assert comment.result.accepted
    accepted = handle_command(work, by_department(case_id, LEAD, action="accept"))
    assert accepted.result.accepted and accepted.result.state == CaseState.IN_PROGRESS


def test_m5_a_co_department_is_offered_its_own_tasks_actions(
    hub: Attacked, client: TestClient
) -> None:
    lead = client.get(f"/api/v1/cases/{CASE_A}", headers=hub.bearer("department", LEAD)).json()
    co = client.get(f"/api/v1/cases/{CASE_A}", headers=hub.bearer("department", CO)).json()
    assert lead["departments"] == [LEAD, CO]
    # The lead resolves the case only once the co-department's task is finished.
    assert lead["actions"] == ["accept", "return", "request_extension", "comment"]
    # The co-department's accept / resolve / return are its task's (联合执法).
    assert co["actions"] == ["accept", "resolve", "return", "request_extension", "comment"]
