from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from sinks.writer import CaseProjectionWriter
from tests.support.cases import CaseStory, make_report
from tests.support.gateway import TokenFactory

CASES = "/api/v1/cases"
REPORTS = "/api/v1/reports"
GRID_A = "110105001001001"
GRID_B = "110105002001001"

# The case shape of DESIGN.md §5 (names fixed).
CASE_FIELDS = {
    "id",
    "state",
    "category",
    "priority",
    "grid_code",
    "lead_department",
    "departments",
    "report_count",
    "respond_by",
    "resolve_by",
    "sla_state",
    "rework_count",
    "escalation_level",
    "merged_into",
    "version",
}


@pytest.fixture
def seeded(engine: Engine) -> None:
    """Case A: chengguan leads, zhujian joins; B: huanbao; C: open, unrouted."""
    a = CaseStory.open("case-a", report=make_report("rep-a1", grid_code=GRID_A))
    a.dispatch("chengguan", "zhujian")
    a.attach(make_report("rep-a2", grid_code=GRID_A, name="李四", phone="13900000000"))
    b = CaseStory.open("case-b", report=make_report("rep-b1", grid_code=GRID_B))
    b.dispatch("huanbao")
    c = CaseStory.open("case-c", report=make_report("rep-c1", grid_code=GRID_B))
    CaseProjectionWriter(engine).write([*a.events, *b.events, *c.events])


@pytest.mark.usefixtures("seeded")
class TestCaseList:
    def test_operator_sees_every_case_in_the_fixed_shape(
        self, client: TestClient, auth: TokenFactory
    ) -> None:
        body = client.get(CASES, headers=auth("operator")).json()
        assert body["total"] == 3 and body["limit"] == 50 and body["offset"] == 0
        assert {item["id"] for item in body["items"]} == {"case-a", "case-b", "case-c"}
        assert all(set(item) >= CASE_FIELDS for item in body["items"])

    def test_filters_and_paging(self, client: TestClient, auth: TokenFactory) -> None:
        headers = auth("leader")
        dispatched = client.get(CASES, params={"state": "dispatched"}, headers=headers).json()
        assert {item["id"] for item in dispatched["items"]} == {"case-a", "case-b"}
        page = client.get(CASES, params={"limit": 1, "offset": 1}, headers=headers).json()
        assert (len(page["items"]), page["total"], page["limit"], page["offset"]) == (1, 3, 1, 1)
        by_grid = client.get(CASES, params={"grid_code": GRID_A}, headers=headers).json()
        assert [item["id"] for item in by_grid["items"]] == ["case-a"]

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"limit": 201}, "query.limit"),
            ({"limit": 0}, "query.limit"),
            ({"offset": -1}, "query.offset"),
            ({"state": "lost"}, "query.state"),
            ({"priority": "P9"}, "query.priority"),
        ],
    )
    def test_bad_filters_are_422(
        self, client: TestClient, auth: TokenFactory, params: dict[str, object], field: str
    ) -> None:
        response = client.get(CASES, params=params, headers=auth("operator"))
        assert response.status_code == 422
        assert [error["field"] for error in response.json()["errors"]] == [field]

    def test_department_sees_only_cases_it_leads_or_joins(
        self, client: TestClient, auth: TokenFactory
    ) -> None:
        joined = client.get(CASES, headers=auth("department", scope="zhujian")).json()
        assert [item["id"] for item in joined["items"]] == ["case-a"]
        led = client.get(CASES, headers=auth("department", scope="huanbao")).json()
        assert [item["id"] for item in led["items"]] == ["case-b"]
        other = client.get(
            CASES, params={"department": "huanbao"}, headers=auth("department", scope="zhujian")
        ).json()
        assert other == {"items": [], "total": 0, "limit": 50, "offset": 0}

    def test_department_token_without_scope_is_403(
        self, client: TestClient, auth: TokenFactory
    ) -> None:
        assert client.get(CASES, headers=auth("department")).status_code == 403


@pytest.mark.usefixtures("seeded")
class TestCaseDetail:
    def test_detail_has_reports_and_timeline(self, client: TestClient, auth: TokenFactory) -> None:
        case = client.get(f"{CASES}/case-a", headers=auth("operator")).json()
        assert set(case) >= CASE_FIELDS
        assert case["lead_department"] == "chengguan"
        assert case["departments"] == ["chengguan", "zhujian"]
        assert [r["id"] for r in case["reports"]] == ["rep-a1", "rep-a2"]
        assert case["reports"][1]["reporter"] == {"name": "李四", "phone": "13900000000"}
        assert [(e["version"], e["type"]) for e in case["timeline"]] == [
            (1, "opened"),
            (2, "dispatched"),
            (3, "report_attached"),
        ]
        assert {"version", "type", "time", "actor", "data"} <= set(case["timeline"][0])

    @pytest.mark.parametrize(
        ("case_id", "role", "scope", "actions"),
        [
            (
                "case-c",
                "operator",
                None,
                ["dispatch", "reject", "merge", "escalate", "reprioritise", "comment", "rate"],
            ),
            (
                "case-a",
                "operator",
                None,
                [
                    "reassign",
                    "add_department",
                    "remove_department",
                    "release_task",
                    "order",
                    "defer",
                    "merge",
                    "escalate",
                    "reprioritise",
                    "comment",
                    "rate",
                ],
            ),
            # The lead may not resolve while zhujian's co-department task is open.
            (
                "case-a",
                "department",
                "chengguan",
                ["accept", "return", "request_extension", "comment"],
            ),
            # A co-department: accept, resolve and return act on its own task only.
            (
                "case-a",
                "department",
                "zhujian",
                ["accept", "resolve", "return", "request_extension", "comment"],
            ),
            ("case-b", "grid_worker", GRID_B, ["comment", "rate"]),
            ("case-a", "leader", None, ["comment"]),
        ],
    )
    def test_detail_lists_the_actions_the_caller_may_take_now(
        self,
        client: TestClient,
        auth: TokenFactory,
        case_id: str,
        role: str,
        scope: str | None,
        actions: list[str],
    ) -> None:
        """The case policy (schemas.policy) answers for this caller and this state:
        the pages draw their buttons from ``actions`` and keep no rules of their own."""
        case = client.get(f"{CASES}/{case_id}", headers=auth(role, scope=scope)).json()
        assert case["actions"] == actions

    def test_actions_are_documented_on_the_detail(self, client: TestClient) -> None:
        doc = client.get("/openapi.json").json()
        ok = doc["paths"]["/api/v1/cases/{case_id}"]["get"]["responses"]["200"]
        ref = ok["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        detail = doc["components"]["schemas"][ref]
        assert "actions" in detail["required"]
        assert "the pages draw their buttons" in detail["properties"]["actions"]["description"]

    def test_personal_data_only_for_operator_and_admin(
        self, client: TestClient, auth: TokenFactory
    ) -> None:
        for role, scope in (("leader", None), ("department", "chengguan")):
            case = client.get(f"{CASES}/case-a", headers=auth(role, scope=scope)).json()
            assert all("reporter" not in report for report in case["reports"]), role
        admin = client.get(f"{CASES}/case-a", headers=auth("admin")).json()
        assert admin["reports"][0]["reporter"]["phone"]

    def test_absent_or_out_of_scope_case_is_404(
        self, client: TestClient, auth: TokenFactory
    ) -> None:
        assert client.get(f"{CASES}/nope", headers=auth("operator")).status_code == 404
        department = auth("department", scope="zhujian")
        assert client.get(f"{CASES}/case-a", headers=department).status_code == 200
        response = client.get(f"{CASES}/case-b", headers=department)
        assert response.status_code == 404
        assert response.json() == {"detail": "case not found"}

    def test_grid_worker_reads_only_cases_in_its_grids(
        self, client: TestClient, auth: TokenFactory
    ) -> None:
        """To verify on site it needs the case (and the department's evidence)."""
        worker = auth("grid_worker", scope=GRID_B)
        assert client.get(f"{CASES}/case-b", headers=worker).status_code == 200
        assert client.get(f"{CASES}/case-a", headers=worker).status_code == 404
        assert client.get(CASES, headers=worker).status_code == 403
        assert client.get(f"{CASES}/case-a", headers=auth("system")).status_code == 403


@pytest.mark.usefixtures("seeded")
class TestReportDetail:
    def test_report_with_its_case(self, client: TestClient, auth: TokenFactory) -> None:
        report = client.get(f"{REPORTS}/rep-a2", headers=auth("operator")).json()
        assert report["case_id"] == "case-a"
        assert report["case_state"] == "dispatched"
        assert report["reporter"] == {"name": "李四", "phone": "13900000000"}

    def test_leader_and_grid_worker_see_no_personal_data(
        self, client: TestClient, auth: TokenFactory
    ) -> None:
        for role in ("leader", "grid_worker"):
            report = client.get(f"{REPORTS}/rep-a2", headers=auth(role)).json()
            assert report["id"] == "rep-a2" and "reporter" not in report, role

    def test_scoped_grid_worker_reads_only_reports_in_its_grids(
        self, client: TestClient, auth: TokenFactory
    ) -> None:
        worker = auth("grid_worker", scope=GRID_A)
        assert client.get(f"{REPORTS}/rep-a1", headers=worker).status_code == 200
        assert client.get(f"{REPORTS}/rep-b1", headers=worker).status_code == 404
