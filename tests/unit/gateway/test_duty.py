"""The duty office over HTTP (the real gateway, case policy and case logic): the
case detail's tasks, extensions, orders and actions; reassign, extensions and
orders as actions; bulk actions answered per case; the work lists; the search
(by phone for operators only, audited); the calendar in /api/v1/meta."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from routing.district import District
from sinks.audit import PERSONAL_DATA_SEARCH, AuditLog
from tests.support.seeded_gateway import LiveGateway, live_gateway

LEAD, CO = "chengguan", "zhujian"


@pytest.fixture
def hub(tmp_path: Path, district: District) -> Iterator[LiveGateway]:
    with live_gateway(tmp_path, district) as gateway:
        yield gateway


def test_the_detail_shows_tasks_and_the_actions_of_each_caller(hub: LiveGateway) -> None:
    case_id = hub.agent.open()  # illegal_construction: 城管 leads, 住建 joins
    case = hub.case(case_id)
    assert [(t["id"], t["department"], t["role"], t["state"]) for t in case["tasks"]] == [
        ("t1", LEAD, "lead", "dispatched"),
        ("t2", CO, "co", "dispatched"),
    ]
    assert case["extensions"] == [] and case["orders"] == []
    assert case["due_by"] == case["resolve_by"] and case["deferrals"] == 0
    assert "reassign" in case["actions"] and "order" in case["actions"]
    lead = hub.case(case_id, hub.auth("department", scope=LEAD))
    assert "resolve" not in lead["actions"]  # 住建's task is open
    co = hub.case(case_id, hub.auth("department", scope=CO))
    assert co["actions"] == ["accept", "resolve", "return", "request_extension", "comment"]


def test_reassign_extensions_and_orders_through_the_api(hub: LiveGateway) -> None:
    case_id = hub.agent.open()
    operator, lead = hub.auth("operator"), hub.auth("department", scope=LEAD)
    unknown = hub.act(case_id, operator, action="reassign", department="mars", reason="x")
    assert unknown.status_code == 422 and unknown.json()["detail"][0]["loc"] == [
        "body",
        "department",
    ]
    moved = hub.act(
        case_id, operator, action="reassign", task=CO, department="gongan", reason="改派"
    )
    assert moved.status_code == 200, moved.text
    assert [t["state"] for t in moved.json()["case"]["tasks"]] == [
        "dispatched",
        "reassigned",
        "dispatched",
    ]
    until = (
        datetime.fromisoformat(hub.case(case_id)["resolve_by"]) + timedelta(days=3)
    ).isoformat()
    asked = hub.act(case_id, lead, action="request_extension", until=until, reason="需听证")
    assert asked.status_code == 200, asked.text
    assert "decide_extension" in hub.case(case_id)["actions"]
    pending = hub.client.get("/api/v1/extensions", headers=operator).json()["items"]
    assert [(x["id"], x["case_id"], x["department"]) for x in pending] == [("x1", case_id, LEAD)]
    decided = hub.act(case_id, operator, action="decide_extension", approved=True, reason="同意")
    assert decided.status_code == 200
    assert decided.json()["case"]["resolve_by"] == until.replace("+00:00", "Z")
    reply_by = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    ordered = hub.act(
        case_id, operator, action="order", level="挂牌", reply_by=reply_by, text="限期"
    )
    assert ordered.status_code == 200
    open_orders = hub.client.get("/api/v1/orders", headers=operator).json()["items"]
    assert [(o["id"], o["level"], o["case"]["lead_department"]) for o in open_orders] == [
        ("o1", "listed", LEAD)
    ]
    mine = hub.client.get("/api/v1/orders", headers=hub.auth("department", scope="gongan"))
    assert mine.json()["items"] == []  # addressed to the lead
    assert "reply" in hub.case(case_id, lead)["actions"]
    replied = hub.act(case_id, lead, action="reply", order="o1", text="已处理")
    assert replied.status_code == 200
    assert hub.client.get("/api/v1/orders", headers=operator).json()["items"] == []
    past = hub.act(
        case_id, operator, action="order", level="一般", reply_by="2020-01-01T00:00:00Z", text="x"
    )
    assert past.status_code == 422 and past.json()["detail"][0]["loc"] == ["body", "reply_by"]


def test_bulk_actions_are_answered_per_case(hub: LiveGateway) -> None:
    stuck = [hub.agent.open("other", description=f"无法归类 {n}") for n in range(3)]
    routed = hub.agent.open("garbage")  # already dispatched
    operator = hub.auth("operator")
    answer = hub.client.post(
        "/api/v1/cases/actions",
        json={
            "cases": [*stuck, routed, "990101001001-nosuchcase00", stuck[0]],
            "action": "dispatch",
            "department": LEAD,
            "co_departments": ["gongan"],
        },
        headers=operator,
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [(i["case_id"], i["status"], i["rule"]) for i in body["items"]] == [
        (stuck[0], "applied", "applied"),
        (stuck[1], "applied", "applied"),
        (stuck[2], "applied", "applied"),
        (routed, "refused", "dispatch"),
        ("990101001001-nosuchcase00", "not_found", "exists"),
    ]
    assert body["counts"] == {"applied": 3, "refused": 1, "not_found": 1}
    assert "not allowed from dispatched" in body["items"][3]["reason"]
    assert [t["department"] for t in hub.case(stuck[1])["tasks"]] == [LEAD, "gongan"]
    comment = hub.client.post(
        "/api/v1/cases/actions",
        json={"cases": stuck, "action": "comment", "note": "批量备注"},
        headers=operator,
    )
    assert comment.json()["counts"] == {"applied": 3}
    assert hub.case(stuck[2])["timeline"][-1]["type"] == "commented"


def test_bulk_refusals(hub: LiveGateway) -> None:
    case_id = hub.agent.open("other")
    url = "/api/v1/cases/actions"
    accept = hub.client.post(
        url, json={"cases": [case_id], "action": "accept"}, headers=hub.auth("operator")
    )
    assert accept.status_code == 422 and "not a bulk action" in accept.text
    reject = hub.client.post(
        url, json={"cases": [case_id], "action": "reject"}, headers=hub.auth("operator")
    )
    assert reject.status_code == 422  # a reason is required, as for one case
    dept = hub.client.post(
        url,
        json={"cases": [case_id], "action": "dispatch", "department": LEAD},
        headers=hub.auth("department", scope=LEAD),
    )
    assert dept.status_code == 403
    merge = hub.client.post(
        url,
        json={"cases": [case_id], "action": "merge", "into": case_id},
        headers=hub.auth("operator"),
    )
    assert merge.json()["items"][0]["rule"] == "merge"  # not into itself


def test_search_and_the_audited_phone_search(hub: LiveGateway) -> None:
    mine = hub.agent.open(
        "garbage", description="垃圾桶满溢", reporter={"name": "钱七", "phone": "139-0000-1111"}
    )
    other = hub.agent.open("noise", description="夜间施工噪声", grid_code="990101002001001")
    operator = hub.auth("operator", name="op-li")
    by_id = hub.client.get("/api/v1/search", params={"q": mine[:17]}, headers=operator).json()
    assert [(h["case"]["id"], h["matched"]) for h in by_id["items"]] == [(mine, ["id"])]
    by_text = hub.client.get("/api/v1/search", params={"q": "夜间施工"}, headers=operator).json()
    assert [h["case"]["id"] for h in by_text["items"]] == [other]
    grid = hub.agent.district.grids.get("990101002001001")
    assert grid is not None
    by_place = hub.client.get("/api/v1/search", params={"q": grid.community_name}, headers=operator)
    assert other in [h["case"]["id"] for h in by_place.json()["items"]]
    assert "990101002001001" in by_place.json()["grids"]

    log = AuditLog(hub.engine)
    assert log.entries() == []
    by_phone = hub.client.get("/api/v1/search", params={"phone": "13900001111"}, headers=operator)
    assert [(h["case"]["id"], h["matched"]) for h in by_phone.json()["items"]] == [
        (mine, ["phone"])
    ]
    [entry] = log.entries(action=PERSONAL_DATA_SEARCH)  # the one audit log, as every read
    me = hub.client.get("/api/v1/me/profile", headers=operator).json()
    assert entry["actor"] == f"operator:{me['principal_id']}" and entry["actor_role"] == "operator"
    assert entry["target"] == "139****1111"  # masked
    assert entry["detail"] == {"fields": ["reporter.phone"], "cases": [mine]}
    leader = hub.client.get(
        "/api/v1/search", params={"phone": "13900001111"}, headers=hub.auth("leader")
    )
    assert leader.status_code == 403
    dept = hub.auth("department", scope="huanbao")  # noise goes to 环保
    assert [
        h["case"]["id"]
        for h in hub.client.get("/api/v1/search", params={"q": "垃圾"}, headers=dept).json()[
            "items"
        ]
    ] == []
    worker = hub.client.get("/api/v1/search", params={"q": "垃圾"}, headers=hub.auth("grid_worker"))
    assert worker.status_code == 403
    assert len(log.entries()) == 1


def test_meta_shows_the_calendar_years(hub: LiveGateway) -> None:
    meta = hub.client.get("/api/v1/meta", headers=hub.auth("grid_worker")).json()
    calendar = meta["calendar"]
    this_year = int(calendar["today"][:4])
    assert [y["year"] for y in calendar["years"]] == [this_year, this_year + 1]
    assert {y["status"] for y in calendar["years"]} <= {"official", "provisional"}
    provisional = [y["year"] for y in calendar["years"] if y["status"] == "provisional"]
    assert calendar["provisional_years"] == provisional
    assert meta["sla_scale"] == 1.0
    assert hub.client.get("/api/v1/meta").status_code == 401


def test_no_phone_search_without_an_audit_log(client, auth) -> None:
    """Personal data read with nobody noting it is not a read the gateway makes."""
    answer = client.get("/api/v1/search", params={"phone": "13900001111"}, headers=auth("operator"))
    assert answer.status_code == 503 and "audit" in answer.text
    assert (
        client.get("/api/v1/search", params={"q": "x"}, headers=auth("operator")).status_code == 200
    )
