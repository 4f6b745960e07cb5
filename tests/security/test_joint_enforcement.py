"""Security finding M5 (reviews/security-2026-12.md): a co-department (联合执法
协办) could accept, resolve or return the lead's whole case, and its return
excluded the lead and was recorded as the lead's return — a helper could close
the gas company's work, or bounce a gas leak away from it.

The attack, performed through HTTP on the real gateway, its case policy and the
real case logic behind it: 应急 (yingji, the co-department of a gas-smell case led
by the gas company) tries each of those moves. Each one now acts on yingji's own
task at most, and the case, its lead and its state stay the lead's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from routing.district import District
from tests.support.seeded_gateway import LiveGateway, live_gateway

LEAD, CO = "gas_company", "yingji"  # gas_smell: the gas company leads, 应急 helps


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[LiveGateway]:
    with live_gateway(tmp_path, District.load()) as gateway:
        yield gateway


@pytest.fixture
def case_id(hub: LiveGateway) -> str:
    case_id = hub.agent.open("gas_smell", description="楼道燃气味")
    case = hub.case(case_id)
    assert (case["state"], case["lead_department"], case["departments"]) == (
        "dispatched",
        LEAD,
        [LEAD, CO],
    )
    return case_id


def lead_task(case: dict[str, object]) -> dict[str, object]:
    [task] = [t for t in case["tasks"] if t["role"] == "lead"]  # type: ignore[attr-defined]
    return task  # type: ignore[no-any-return]


def test_a_co_department_cannot_resolve_the_leads_case(hub: LiveGateway, case_id: str) -> None:
    co = hub.auth("department", scope=CO)
    answer = hub.act(case_id, co, action="resolve", note="我们看过了，已解决")
    assert answer.status_code == 200  # it resolved ITS task ...
    case = hub.case(case_id)
    assert case["state"] == "dispatched"  # ... not the case
    assert lead_task(case)["state"] == "dispatched" and case["resolution"] is None
    assert [t["state"] for t in case["tasks"] if t["department"] == CO] == ["done"]
    assert case["timeline"][-1]["type"] == "task_changed"
    assert "resolved" not in [e["type"] for e in case["timeline"]]
    # Nor can it resolve again, on the case's behalf or its own.
    again = hub.act(case_id, co, action="resolve", note="再来一次")
    assert again.status_code == 409 and again.json()["rule"] == "task_resolve"


def test_a_co_departments_return_does_not_exclude_or_replace_the_lead(
    hub: LiveGateway, case_id: str
) -> None:
    co = hub.auth("department", scope=CO)
    answer = hub.act(case_id, co, action="return", reason="不归我们管")
    assert answer.status_code == 200
    case = hub.case(case_id)
    assert case["state"] == "dispatched" and case["lead_department"] == LEAD
    assert lead_task(case)["state"] == "dispatched"
    excluded = hub.client.get(f"/api/v1/cases/{case_id}", headers=hub.auth("operator"))
    assert LEAD not in (excluded.json().get("excluded_departments") or [])
    types = [e["type"] for e in case["timeline"]]
    assert "returned" not in types and types[-1] == "task_changed"
    assert case["timeline"][-1]["data"]["department"] == CO  # recorded as ITS return
    # Its task went back to the duty office; it no longer holds the case.
    assert hub.act(case_id, co, action="accept").status_code == 404
    assert hub.client.get(f"/api/v1/cases/{case_id}", headers=co).status_code == 404


def test_a_co_departments_accept_is_its_own(hub: LiveGateway, case_id: str) -> None:
    co = hub.auth("department", scope=CO)
    assert hub.act(case_id, co, action="accept").status_code == 200
    case = hub.case(case_id)
    assert case["state"] == "dispatched" and lead_task(case)["state"] == "dispatched"
    # The lead still accepts its own case.
    lead = hub.auth("department", scope=LEAD)
    assert hub.act(case_id, lead, action="accept").status_code == 200
    assert hub.case(case_id)["state"] == "in_progress"


def test_a_co_department_cannot_use_the_duty_offices_hands(hub: LiveGateway, case_id: str) -> None:
    co = hub.auth("department", scope=CO)
    for body in (
        {"action": "reassign", "department": CO, "reason": "由我们主办"},
        {"action": "release_task", "department": LEAD},
        {"action": "remove_department", "department": LEAD},
        {"action": "decide_extension", "approved": True},
    ):
        answer = hub.act(case_id, co, **body)
        assert answer.status_code == 403, body
    order = hub.act(
        case_id,
        hub.auth("operator"),
        action="order",
        level="重点",
        reply_by="2099-01-01T00:00:00Z",
        text="请燃气公司说明",
    )
    assert order.status_code == 200
    reply = hub.act(case_id, co, action="reply", order="o1", text="替燃气公司回复")
    assert reply.status_code == 409 and reply.json()["rule"] == "order"  # the lead's to answer
    assert hub.case(case_id)["orders"][0]["state"] == "open"


def test_the_leads_resolve_waits_for_the_co_department(hub: LiveGateway, case_id: str) -> None:
    lead = hub.auth("department", scope=LEAD)
    early = hub.act(case_id, lead, action="resolve", note="已修复")
    assert early.status_code == 409 and early.json()["rule"] == "joint_tasks"
    assert hub.act(case_id, hub.auth("department", scope=CO), action="resolve", note="疏散完毕")
    assert hub.act(case_id, lead, action="resolve", note="已修复").status_code == 200
    assert hub.case(case_id)["state"] == "resolved"
