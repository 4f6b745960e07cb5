"""What the leaders' page needs: the case list as CSV with the list's filters and
roles, the daily brief as HTML / PDF / Markdown / JSON with the duty office's
hotspot alerts, the department directory and the signed-in profile."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert

from gateway.app import create_app
from gateway.deps import GatewayDeps
from schemas.cases import CaseEventType, SlaState
from sinks.outbox_models import inbox
from sinks.tokens import TokenStore
from sinks.writer import CaseProjectionWriter
from tests.support.cases import T0, CaseStory, make_report
from tests.support.gateway import TokenFactory, principal_of, with_stores

EXPORT = "/api/v1/exports/cases.csv"
GRID_A = "110105001001001"
GRID_B = "110105002001001"
DAY = "2025-03-03"  # T0 is 2025-03-03 08:00 UTC = 16:00 Asia/Shanghai


@pytest.fixture
def client(deps: GatewayDeps, engine: Engine) -> Iterator[TestClient]:
    """With the daily briefs read from the test database."""
    with TestClient(create_app(with_stores(deps, engine))) as test_client:
        yield test_client


@pytest.fixture
def seeded(engine: Engine) -> None:
    a = CaseStory.open(
        "case-a",
        report=make_report("r-a", grid_code=GRID_A, description='=HYPERLINK("x") 井盖'),
    )
    a.dispatch("chengguan")
    a.step(CaseEventType.SUPERVISED, sla_state=SlaState.WARNING)
    a.accept()
    a.resolve()
    a.close()
    b = CaseStory.open(
        "case-b",
        report=make_report("r-b", grid_code=GRID_B, description='垃圾 garbage, "quoted"'),
        at=T0 + timedelta(hours=1),
    )
    b.dispatch("huanbao")
    CaseProjectionWriter(engine).write([*a.events, *b.events])
    with engine.begin() as conn:
        conn.execute(
            insert(inbox).values(
                notification_id="duty_office:hotspot:1",
                recipient="duty_office",
                channel="app",
                case_id=None,
                event_type="org.gridhub.alert.hotspot",
                subject="热点：<b>井盖</b> 聚集",
                body="",
                data={
                    "alert_id": "hotspot:1",
                    "kind": "hotspot",
                    "grid_code": GRID_A,
                    "category": "road.pothole",
                    "detail": {"count": 7},
                },
                time=T0 + timedelta(minutes=30),
                read_at=None,
            )
        )


def rows(response_text: str) -> list[dict[str, str]]:
    assert response_text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(response_text.removeprefix("\ufeff"))))


@pytest.mark.usefixtures("seeded")
def test_csv_has_the_list_filters_and_no_formulas(client: TestClient, auth: TokenFactory) -> None:
    operator = auth("operator")
    response = client.get(EXPORT, headers=operator)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    assert response.headers["x-total-count"] == "2"
    table = rows(response.text)
    assert [r["id"] for r in table] == ["case-b", "case-a"]  # the list's order: newest first
    by_id = {r["id"]: r for r in table}
    assert by_id["case-a"]["state"] == "closed"
    assert by_id["case-a"]["title"].startswith("'=HYPERLINK")  # not a formula any more
    assert by_id["case-b"]["title"] == '垃圾 garbage, "quoted"'  # quoted, not split
    assert by_id["case-b"]["lead_department"] == "huanbao"
    assert "reporter" not in ",".join(table[0].keys())
    assert "13800138000" not in response.text and "张三" not in response.text

    filtered = rows(client.get(EXPORT, params={"state": "dispatched"}, headers=operator).text)
    assert [r["id"] for r in filtered] == ["case-b"]
    by_street = rows(client.get(EXPORT, params={"street": "110105001"}, headers=operator).text)
    assert [r["id"] for r in by_street] == ["case-a"]
    assert client.get(EXPORT, params={"street": "1"}, headers=operator).status_code == 422


@pytest.mark.usefixtures("seeded")
def test_csv_roles(client: TestClient, auth: TokenFactory) -> None:
    huanbao = auth("department", scope="huanbao")
    assert [r["id"] for r in rows(client.get(EXPORT, headers=huanbao).text)] == ["case-b"]
    other = client.get(EXPORT, params={"department": "chengguan"}, headers=huanbao)
    assert other.status_code == 200 and rows(other.text) == []
    assert client.get(EXPORT, headers=auth("leader")).status_code == 200
    assert client.get(EXPORT, headers=auth("grid_worker")).status_code == 403
    assert client.get(EXPORT, headers=auth("system", scope="urn:x")).status_code == 403
    assert client.get(EXPORT).status_code == 401


@pytest.mark.usefixtures("seeded")
def test_brief_in_every_format(client: TestClient, auth: TokenFactory) -> None:
    leader = auth("leader")
    page = client.get(f"/api/v1/briefs/{DAY}", headers=leader)
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert f"每日简报 {DAY}" in page.text
    assert "&lt;b&gt;井盖&lt;/b&gt;" in page.text and "<b>井盖" not in page.text  # escaped

    data = client.get(f"/api/v1/briefs/{DAY}", params={"format": "json"}, headers=leader).json()
    assert data["new"]["total"] == 2
    assert data["closed"]["total"] == 1
    assert [h["alert_id"] for h in data["hotspots"]] == ["hotspot:1"]
    assert data["hotspots"][0]["count"] == 7

    pdf = client.get(f"/api/v1/briefs/{DAY}", params={"format": "pdf"}, headers=leader)
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-") and b"STSong-Light" in pdf.content
    assert f'filename="brief-{DAY}.pdf"' in pdf.headers["content-disposition"]

    md = client.get(
        f"/api/v1/briefs/{DAY}", params={"format": "md", "download": "true"}, headers=leader
    )
    assert md.text.startswith(f"# 每日简报 {DAY}")
    assert md.headers["content-disposition"].startswith("attachment")

    other_day = client.get("/api/v1/briefs/2025-03-05", params={"format": "json"}, headers=leader)
    assert other_day.json()["new"]["total"] == 0 and other_day.json()["hotspots"] == []


@pytest.mark.usefixtures("seeded")
def test_the_week_and_the_month_of_a_day(client: TestClient, auth: TokenFactory) -> None:
    leader = auth("leader")
    wednesday = "2025-03-05"  # the seeded cases came on Monday 3 March
    week = client.get(
        f"/api/v1/briefs/{wednesday}", params={"format": "json", "period": "week"}, headers=leader
    ).json()
    assert (week["kind"], week["label"]) == ("week", "2025-W10")
    assert week["new"]["total"] == 2 and week["closed"]["total"] == 1
    assert [h["alert_id"] for h in week["hotspots"]] == ["hotspot:1"]

    month = client.get(
        f"/api/v1/briefs/{wednesday}", params={"format": "md", "period": "month"}, headers=leader
    )
    assert month.text.startswith("# 每月简报 2025-03")
    pdf = client.get(
        f"/api/v1/briefs/{wednesday}", params={"format": "pdf", "period": "month"}, headers=leader
    )
    assert 'filename="brief-2025-03.pdf"' in pdf.headers["content-disposition"]

    next_week = client.get(
        "/api/v1/briefs/2025-03-10", params={"format": "json", "period": "week"}, headers=leader
    ).json()
    assert next_week["new"]["total"] == 0
    bad = client.get(f"/api/v1/briefs/{wednesday}", params={"period": "year"}, headers=leader)
    assert bad.status_code == 422


def test_brief_roles_and_validation(client: TestClient, auth: TokenFactory) -> None:
    assert client.get(f"/api/v1/briefs/{DAY}", headers=auth("operator")).status_code == 200
    for role, scope in (("department", "huanbao"), ("grid_worker", None)):
        assert client.get(f"/api/v1/briefs/{DAY}", headers=auth(role, scope)).status_code == 403
    leader = auth("leader")
    for day in ("yesterday", "0001-01-01", "9999-12-31"):
        assert client.get(f"/api/v1/briefs/{day}", headers=leader).status_code == 422, day
    bad_format = client.get(f"/api/v1/briefs/{DAY}", params={"format": "exe"}, headers=leader)
    assert bad_format.status_code == 422
    for tz in ("Mars/Base", "America", "../etc/passwd"):
        bad_tz = client.get(f"/api/v1/briefs/{DAY}", params={"tz": tz}, headers=leader)
        assert bad_tz.status_code == 422, tz


def test_departments_directory(client: TestClient, auth: TokenFactory) -> None:
    listed = client.get("/api/v1/departments", headers=auth("grid_worker")).json()
    names = {d["code"]: d["name_zh"] for d in listed}
    assert names["chengguan"] == "区城市管理综合执法局"
    assert all(d["name_en"] for d in listed)
    assert client.get("/api/v1/departments").status_code == 401


def test_profile(client: TestClient, auth: TokenFactory, tokens: TokenStore) -> None:
    headers = auth("department", "huanbao", name="环保值班")
    me = client.get("/api/v1/me/profile", headers=headers)
    assert me.json() == {
        "principal_id": principal_of(tokens, headers),
        "name": "环保值班",
        "role": "department",
        "scope": "huanbao",
    }
    assert client.get("/api/v1/me/profile").status_code == 401


def test_brief_without_a_brief_reader_is_503(deps: GatewayDeps, auth: TokenFactory) -> None:
    with TestClient(create_app(deps)) as bare:
        response = bare.get(f"/api/v1/briefs/{DAY}", headers=auth("leader"))
    assert response.status_code == 503
    assert response.json() == {"detail": "briefs are not available here"}
