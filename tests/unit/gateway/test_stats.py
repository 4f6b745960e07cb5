"""GET /api/v1/stats/...: roles, a department's own row, periods."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from gateway.app import create_app
from gateway.deps import GatewayDeps
from tests.support.gateway import TokenFactory
from tests.support.seeded_gateway import GRID_A, GRID_B, case_work_deps, seed

STATS = "/api/v1/stats"
PERIOD = {"start": "2025-03-01T00:00:00Z", "end": "2025-03-10T00:00:00Z"}


@pytest.fixture
def ops(deps: GatewayDeps, engine: Engine, tmp_path: Path) -> Iterator[TestClient]:
    seed(engine)
    with TestClient(create_app(case_work_deps(deps, engine, tmp_path))) as test_client:
        yield test_client


def test_queue(ops: TestClient, auth: TokenFactory) -> None:
    queue = ops.get(f"{STATS}/queue", headers=auth("operator")).json()
    assert queue["total"] == 3
    assert queue["by_state_priority"]["dispatched"]["P3"] == 1
    assert queue["by_state_priority"]["resolved"]["P3"] == 1
    assert queue["by_state_priority"]["open"] == {"P1": 0, "P2": 0, "P3": 1, "P4": 0}
    assert queue["by_sla_state"] == {"on_track": 3, "warning": 0, "overdue": 0}
    own = ops.get(f"{STATS}/queue", headers=auth("department", scope="zhujian")).json()
    assert own["total"] == 1 and own["by_state_priority"]["dispatched"]["P3"] == 1


def test_sla_per_department(ops: TestClient, auth: TokenFactory) -> None:
    rows = ops.get(f"{STATS}/sla", headers=auth("leader")).json()["items"]
    assert rows == [
        {"department": "chengguan", "on_track": 1, "warning": 0, "overdue": 0, "total": 1}
    ]
    own = ops.get(f"{STATS}/sla", headers=auth("department", scope="huanbao")).json()
    assert own["items"] == []  # its case is resolved: the clock has stopped


def test_hotspots(ops: TestClient, auth: TokenFactory) -> None:
    body = ops.get(f"{STATS}/hotspots", params=PERIOD, headers=auth("operator")).json()
    assert body["start"].startswith("2025-03-01")
    top = body["items"][0]
    assert (top["grid_code"], top["open_cases"], top["heat"]) == (GRID_A, 1, 2)
    assert {(i["grid_code"], i["category"]) for i in body["items"]} == {
        (GRID_A, "road.pothole"),
        (GRID_B, "garbage"),
        (GRID_B, "other"),
    }
    recent = ops.get(f"{STATS}/hotspots", headers=auth("operator")).json()
    assert recent["items"] == []  # the seeded cases are older than the default week


def test_assessment_rows(ops: TestClient, auth: TokenFactory) -> None:
    rows = ops.get(f"{STATS}/departments", params=PERIOD, headers=auth("leader")).json()
    assert {r["department"] for r in rows["items"]} == {"chengguan", "huanbao"}
    assert "on_time_rate" in rows["items"][0]
    own = ops.get(
        f"{STATS}/departments", params=PERIOD, headers=auth("department", scope="huanbao")
    ).json()
    assert [r["department"] for r in own["items"]] == ["huanbao"]
    workers = ops.get(f"{STATS}/grid-workers", params=PERIOD, headers=auth("operator")).json()
    assert workers["items"][0]["grid_worker"] == "grid-worker-1"
    assert workers["items"][0]["reports"] == 4


@pytest.mark.parametrize(
    ("path", "role", "status"),
    [
        ("queue", "grid_worker", 403),
        ("queue", "system", 403),
        ("hotspots", "department", 403),
        ("grid-workers", "department", 403),
        ("departments", "grid_worker", 403),
        ("sla", "admin", 200),
        ("grid-workers", "leader", 200),
    ],
)
def test_roles(ops: TestClient, auth: TokenFactory, path: str, role: str, status: int) -> None:
    response = ops.get(f"{STATS}/{path}", headers=auth(role, scope="chengguan"))
    assert response.status_code == status


@pytest.mark.parametrize(
    "params",
    [
        {"start": "2025-03-10T00:00:00Z", "end": "2025-03-01T00:00:00Z"},
        {"start": "2020-01-01T00:00:00Z", "end": "2025-01-01T00:00:00Z"},
        {"start": "yesterday"},
    ],
)
def test_bad_periods_are_422(ops: TestClient, auth: TokenFactory, params: dict[str, str]) -> None:
    response = ops.get(f"{STATS}/departments", params=params, headers=auth("operator"))
    assert response.status_code == 422


def test_windows_for_the_centre_only(ops: TestClient, auth: TokenFactory) -> None:
    body = ops.get(f"{STATS}/windows", params={"hours": 6}, headers=auth("leader")).json()
    assert len(body["windows"]) == 6 and body["window_seconds"] == 3600
    assert {"start", "count", "baseline", "required"} == set(body["windows"][0])
    denied = ops.get(f"{STATS}/windows", headers=auth("department", scope="zhujian"))
    assert denied.status_code == 403
    bad = ops.get(f"{STATS}/windows", params={"grid_code": "12"}, headers=auth("operator"))
    assert bad.status_code == 422


def test_areas_by_street_and_community(ops: TestClient, auth: TokenFactory) -> None:
    streets = ops.get(f"{STATS}/areas", params=PERIOD, headers=auth("leader")).json()["items"]
    assert streets and all(len(row["street"]) == 9 for row in streets)
    params = {**PERIOD, "level": "community"}
    communities = ops.get(f"{STATS}/areas", params=params, headers=auth("operator")).json()
    assert all(len(row["community"]) == 12 for row in communities["items"])
    assert ops.get(f"{STATS}/areas", headers=auth("department", scope="x")).status_code == 403
