"""GET /api/v1/me/tasks (grid workers' verifications) and /api/v1/me/inbox,
GET /api/v1/reports/{id} and GET /api/v1/cases/{id} for grid workers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update

from gateway.app import create_app
from gateway.deps import GatewayDeps
from schemas.alerts import Notification
from sinks.models import reports
from sinks.outbox import Outbox
from tests.support.gateway import TokenFactory
from tests.support.seeded_gateway import CASE_A, CASE_B, GRID_A, GRID_B, case_work_deps, seed

TASKS = "/api/v1/me/tasks"
INBOX = "/api/v1/me/inbox"
T = datetime(2025, 3, 4, 8, 0, tzinfo=UTC)


@pytest.fixture
def ops(deps: GatewayDeps, engine: Engine, tmp_path: Path) -> Iterator[TestClient]:
    seed(engine)
    with TestClient(create_app(case_work_deps(deps, engine, tmp_path))) as test_client:
        yield test_client


def test_tasks_are_resolved_cases_in_the_workers_grids(ops: TestClient, auth: TokenFactory) -> None:
    mine = ops.get(TASKS, headers=auth("grid_worker", scope=GRID_B)).json()
    assert [c["id"] for c in mine["items"]] == [CASE_B] and mine["total"] == 1
    assert mine["items"][0]["state"] == "resolved"
    assert "resolution" in mine["items"][0]  # the evidence to check on site
    assert mine["items"][0]["actions"] == ["verify", "comment", "rate"]  # the phone's buttons
    community = ops.get(TASKS, headers=auth("grid_worker", scope=GRID_B[:12])).json()
    assert community["total"] == 1
    other = ops.get(TASKS, headers=auth("grid_worker", scope=GRID_A)).json()
    assert other == {"items": [], "total": 0, "limit": 50, "offset": 0}
    several = ops.get(TASKS, headers=auth("grid_worker", scope=f"{GRID_A},{GRID_B}")).json()
    assert several["total"] == 1
    assert ops.get(TASKS, headers=auth("operator")).status_code == 403


def test_grid_worker_reads_cases_in_its_grids_only(ops: TestClient, auth: TokenFactory) -> None:
    worker = auth("grid_worker", scope=GRID_B)
    case = ops.get(f"/api/v1/cases/{CASE_B}", headers=worker)
    assert case.status_code == 200
    assert all("reporter" not in r for r in case.json()["reports"])
    assert ops.get(f"/api/v1/cases/{CASE_A}", headers=worker).status_code == 404
    assert ops.get("/api/v1/cases", headers=worker).status_code == 403


def test_report_detail_for_a_worker_in_scope(ops: TestClient, auth: TokenFactory) -> None:
    worker = auth("grid_worker", scope=GRID_B)
    report = ops.get("/api/v1/reports/rep-b1", headers=worker).json()
    assert report["case_id"] == CASE_B and report["case_state"] == "resolved"
    assert "reporter" not in report
    assert ops.get("/api/v1/reports/rep-a1", headers=worker).status_code == 404


def _note(n: int, recipient: str, minutes: int = 0) -> Notification:
    return Notification(
        id=f"n-{n}",
        recipient=recipient,
        channel="app",
        time=T + timedelta(minutes=minutes),
        case_id=CASE_A,
        event_type="org.gridhub.case.dispatched",
        subject=f"message {n}",
        body="请处置",
    )


def test_inbox_per_recipient(ops: TestClient, auth: TokenFactory, engine: Engine, tokens) -> None:
    worker_token, worker = tokens.create("grid_worker", "grid-worker-1")
    with engine.begin() as conn:  # rep-a1 was submitted by that principal
        conn.execute(
            update(reports).where(reports.c.id == "rep-a1").values(submitted_by=worker.principal_id)
        )
    Outbox(engine).accept(
        [
            _note(1, "department:chengguan", 1),
            _note(2, "department:chengguan", 2),
            _note(3, "department:huanbao"),
            _note(4, "duty_office"),
            _note(5, "reporter:rep-a1"),  # rep-a1 was submitted by grid-worker-1
            _note(6, "reporter:someone-else"),
            _note(7, f"grid_worker:{worker.principal_id}"),
            _note(8, "leaders", 3),
        ],
        lambda recipient: None,
    )
    chengguan = ops.get(INBOX, headers=auth("department", scope="chengguan")).json()
    assert chengguan["recipients"] == ["department:chengguan"]
    assert [m["notification_id"] for m in chengguan["items"]] == ["n-2", "n-1"]  # newest first
    assert chengguan["items"][0]["subject"] == "message 2"

    for role in ("operator", "admin"):
        duty = ops.get(INBOX, headers=auth(role)).json()
        assert [m["notification_id"] for m in duty["items"]] == ["n-4"], role
    # Escalations that climbed to level 2 reach the leaders, beside the duty office's.
    leader = ops.get(INBOX, headers=auth("leader")).json()
    assert leader["recipients"] == ["duty_office", "leaders"]
    assert [m["notification_id"] for m in leader["items"]] == ["n-8", "n-4"]

    mine = ops.get(INBOX, headers={"Authorization": f"Bearer {worker_token}"}).json()
    assert {m["notification_id"] for m in mine["items"]} == {"n-5", "n-7"}
    # Another principal of the same display name reads none of it.
    namesake = ops.get(INBOX, headers=auth("grid_worker", name="grid-worker-1")).json()
    assert namesake["items"] == []

    Outbox(engine).mark_read("n-1", "department:chengguan")
    unread = ops.get(
        INBOX, params={"unread": "true"}, headers=auth("department", scope="chengguan")
    ).json()
    assert [m["notification_id"] for m in unread["items"]] == ["n-2"]
    limited = ops.get(INBOX, params={"limit": 1}, headers=auth("department", scope="chengguan"))
    assert len(limited.json()["items"]) == 1
    assert ops.get(INBOX, headers=auth("department")).status_code == 403
    assert ops.get(INBOX).status_code == 401


def test_a_grid_worker_marks_inbox_messages_read(
    ops: TestClient, auth: TokenFactory, engine: Engine, tokens
) -> None:
    worker_token, principal = tokens.create("grid_worker", "grid-worker-1")
    with engine.begin() as conn:  # rep-a1 was submitted by that principal
        conn.execute(
            update(reports)
            .where(reports.c.id == "rep-a1")
            .values(submitted_by=principal.principal_id)
        )
    Outbox(engine).accept(
        [
            _note(5, "reporter:rep-a1"),  # an answer to a report grid-worker-1 filed
            _note(7, f"grid_worker:{principal.principal_id}"),
            _note(8, "department:chengguan"),
        ],
        lambda recipient: None,
    )
    worker = {"Authorization": f"Bearer {worker_token}"}
    for notification_id in ("n-5", "n-7"):
        marked = ops.post(f"{INBOX}/{notification_id}/read", headers=worker)
        assert marked.status_code == 200 and marked.json()["read"] is True
    assert ops.post(f"{INBOX}/n-7/read", headers=worker).status_code == 200  # again: fine
    assert ops.get(INBOX, params={"unread": "true"}, headers=worker).json()["items"] == []
    items = ops.get(INBOX, headers=worker).json()["items"]
    assert all(item["read_at"] for item in items)
    # someone else's message is not in this inbox
    assert ops.post(f"{INBOX}/n-8/read", headers=worker).status_code == 404
    other = auth("grid_worker", name="grid-worker-2")
    assert ops.post(f"{INBOX}/n-5/read", headers=other).status_code == 404
    namesake = auth("grid_worker", name="grid-worker-1")  # another principal, same name
    assert ops.post(f"{INBOX}/n-7/read", headers=namesake).status_code == 404
