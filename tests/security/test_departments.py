"""M5 — a co-department of a joint-enforcement case (联合执法) acts on its own
part only: it cannot accept, resolve or return the lead department's whole
case, so its return cannot exclude the lead from re-routing. Performed through
the case agent's own logic (the writer asks the case policy again, whatever the
gateway let through) and seen through HTTP (the actions a caller is offered)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from routing.district import District
from schemas.cases import CaseAction, CaseCommand, CaseState
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


def test_m5_a_co_department_cannot_take_over_the_leads_case() -> None:
    district = District.load()
    work = CaseWork(district, DictCaseStore(), merge_window=timedelta(hours=48))  # type: ignore[arg-type]
    envelope = report_envelope(category="illegal_construction").model_copy(update={"time": WHEN})
    case_id = work.on_report(normalise(envelope, district, WHEN)).events[-1].case_id
    case = work.store.record(case_id).case
    assert case.lead_department == LEAD and CO in case.departments

    for body in (
        {"action": "accept"},
        {"action": "resolve", "note": "已拆除"},
        {"action": "return", "reason": "非我单位"},
    ):
        outcome = handle_command(work, by_department(case_id, CO, **body))
        assert not outcome.result.accepted and outcome.result.rule == "scope", body
        assert "co-department" in outcome.result.reason and outcome.events == []
    case = work.store.record(case_id).case
    assert case.state == CaseState.DISPATCHED and case.lead_department == LEAD
    assert LEAD not in case.excluded_departments

    comment = handle_command(work, by_department(case_id, CO, action="comment", note="已到场"))
    assert comment.result.accepted  # its own part: it works the case and says so
    accepted = handle_command(work, by_department(case_id, LEAD, action="accept"))
    assert accepted.result.accepted and accepted.result.state == CaseState.IN_PROGRESS


def test_m5_a_co_department_is_offered_only_a_comment(hub: Attacked, client: TestClient) -> None:
    lead = client.get(f"/api/v1/cases/{CASE_A}", headers=hub.bearer("department", LEAD)).json()
    co = client.get(f"/api/v1/cases/{CASE_A}", headers=hub.bearer("department", CO)).json()
    assert lead["departments"] == [LEAD, CO]
    assert lead["actions"] == ["accept", "resolve", "return", "comment"]
    assert co["actions"] == ["comment"]
