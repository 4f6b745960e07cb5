"""The three pages end to end: real ``gridhub worker`` and
``gridhub gateway`` processes on the real Kafka broker (SQLite, the default
deployment's database), driven by Debian's headless Chromium.

A grid worker files a report with a photo and GPS, goes offline, files another
(picking the grid by hand), comes back online — and the first answer of that
send is lost on the way back, so the phone retries with the same idempotency
key — and both reports arrive once. The operator, whose console was open all
along, sees both cases appear live, merges the second into the first (picked
among nearby cases) and dispatches it. The department signs in to the console,
accepts and resolves it with a note and a photo. The grid worker verifies it on
the phone. The leaders' page counts the new and closed cases, draws the charts,
ranks the department, and hands out the daily brief as PDF and the cases as CSV.

Screenshots of every page land in ``test-artifacts/`` (see conftest)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import func, select

from sinks.db import make_engine
from sinks.models import reports
from tests.fixtures.worker import wait_until
from tests.support.images import make_png
from tests.support.pages import Hub, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.kafka]

COMMUNITY = "990101001001"  # the grid worker's scope: 东园社区
GRID_A = "990101001001001"  # 东园社区第1网格: the phone's GPS fix is in it
GRID_B = "990101001001002"  # 东园社区第2网格, ~500 m east: picked by hand, a separate case
GPS = {"latitude": 39.9020, "longitude": 116.3830, "accuracy": 8}
CATEGORY = "other"  # no routing rule: the cases wait for the operator in triage
DEPARTMENT = "chengguan"
DEPARTMENT_NAME = "区城市管理综合执法局"


def report_count(db_url: str) -> int:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(reports)) or 0)
    finally:
        engine.dispose()


def row(page: Any, case_id: str) -> Any:
    return page.locator(f"#rows tr[data-case='{case_id}']")


def test_report_offline_merge_dispatch_resolve_verify_and_figures(
    hub: Hub, new_page: Callable[..., Any], screenshot: Any, tmp_path: Path
) -> None:
    photo = tmp_path / "scene.png"
    photo.write_bytes(make_png())
    worker = hub.token("grid_worker", COMMUNITY, "张网格")
    operator = hub.token("operator", None, "值班员李")
    department = hub.token("department", DEPARTMENT, "城管值班")
    leader = hub.token("leader", None, "区领导")
    # -- the operator's console is open (and live) before anything is reported ------
    console = new_page(1280, 900)
    sign_in(console, f"{hub.base}/console/", operator)
    console.locator("#live[data-state='live']").wait_for()
    console.evaluate("window.__sameDocument = true")  # proves: no reload later
    # -- the grid worker reports with a photo and the phone's GPS ---------------------
    phone = new_page(
        390,
        844,
        geolocation=GPS,
        permissions=["geolocation"],
        is_mobile=True,
        has_touch=True,
    )
    phone.goto(f"{hub.base}/m/")
    phone.get_by_role("heading", name="登录").wait_for()
    screenshot(phone, "journey-m-signin")
    phone.get_by_label("访问令牌").fill(worker)
    phone.get_by_role("button", name="登录").click()
    phone.locator(f"#grid option[value='{GRID_B}']").wait_for(state="attached")

    phone.get_by_placeholder("搜索类别（中文或英文）").fill("其他")
    phone.locator("#category").select_option(CATEGORY)
    phone.get_by_label("问题描述").fill("楼道堆放杂物，堵塞消防通道 <b>A</b>")
    phone.get_by_label("现场照片").set_input_files(str(photo))
    phone.get_by_role("button", name="使用当前定位").click()
    phone.locator("#gps", has_text="39.90200, 116.38300").wait_for()
    phone.get_by_role("button", name="提交上报").click()
    phone.locator("#report-status", has_text="已上报").wait_for()
    # -- offline: the second report waits in the outbox -------------------------------
    phone.context.set_offline(True)
    phone.locator("#net", has_text="离线").wait_for()
    phone.get_by_placeholder("搜索类别（中文或英文）").fill("other")
    phone.locator("#category").select_option(CATEGORY)
    phone.get_by_label("问题描述").fill("楼道堆放杂物（离线补报）B")
    phone.get_by_label("或选择网格").select_option(GRID_B)
    phone.get_by_role("button", name="提交上报").click()
    phone.locator("#report-status", has_text="已保存，联网后自动发送").wait_for()
    assert phone.locator("#outbox li").filter(has_text="离线补报").count() == 1
    screenshot(phone, "journey-m-offline-outbox")
    # -- back online; the gateway takes the report but its answer is lost ------------
    lost: list[int] = []

    def lose_the_answer(route: Any) -> None:
        if route.request.method != "POST" or lost:
            route.continue_()
            return
        lost.append(route.fetch().status)  # reached the gateway...
        route.abort("connectionreset")  # ...but the phone never hears back

    phone.route("**/api/v1/reports", lose_the_answer)
    with phone.expect_event("requestfailed", predicate=lambda r: r.url.endswith("/api/v1/reports")):
        phone.context.set_offline(False)
    assert lost == [202]
    phone.unroute("**/api/v1/reports")
    outbox_item = phone.locator("#outbox li").filter(has_text="离线补报")
    assert outbox_item.count() == 1  # kept: the phone cannot know it arrived
    outbox_item.get_by_role("button", name="重发").click()  # same Idempotency-Key
    phone.locator("#mine li").filter(has_text="离线补报").wait_for()
    assert phone.locator("#outbox li").filter(has_text="离线补报").count() == 0
    mine = orjson.loads(phone.evaluate("localStorage.getItem('gridhub.m.mine')"))
    assert len(mine) == 2 and len({m["report_id"] for m in mine}) == 2

    # -- both arrive once, and the console shows them live ----------------------------
    def both_cases() -> dict[str, str] | None:
        found = {}
        for entry in mine:
            body = httpx.get(
                f"{hub.base}/api/v1/reports/{entry['report_id']}",
                headers={"Authorization": f"Bearer {operator}"},
                timeout=10,
            )
            if body.status_code != 200 or not body.json().get("case_id"):
                return None
            found[body.json()["grid_code"]] = body.json()["case_id"]
        return found

    cases = wait_until(both_cases, 60, "both reports to open their cases", interval=0.5)
    case_a, case_b = cases[GRID_A], cases[GRID_B]
    assert case_a != case_b
    assert report_count(hub.db_url) == 2
    row(console, case_a).wait_for()
    row(console, case_b).wait_for()
    assert console.evaluate("window.__sameDocument") is True
    assert console.locator("#rows tr").count() == 2
    assert "待受理" in row(console, case_b).inner_text()
    screenshot(phone, "journey-m-reported")
    screenshot(console, "journey-console-live")
    # -- merge the second into the first, chosen among nearby cases -------------------
    row(console, case_b).click()
    console.locator("#detail-h", has_text=case_b).wait_for()
    console.locator("#report-list li", has_text="离线补报").wait_for()
    target = console.locator("#act-into")
    target.locator(f"option[value='{case_a}']").wait_for(state="attached")
    assert "米" in target.locator(f"option[value='{case_a}']").inner_text()  # distance shown
    target.select_option(case_a)
    console.get_by_role("button", name="合并到").click()
    row(console, case_b).wait_for(state="detached")  # merged: out of the live queue
    console.locator("#detail .badge.state-merged").wait_for()
    # -- open the first: report, photo, map, then dispatch ----------------------------
    row(console, case_a).click()
    console.locator("#detail-h", has_text=case_a).wait_for()
    console.locator("#report-list img[src^='blob:']").wait_for()  # the phone's photo
    console.locator("#detail svg.gridmap circle").first.wait_for()  # the GPS point
    assert console.locator("#detail svg.gridmap path").count() == 24
    console.locator("#act-department").select_option(DEPARTMENT)
    console.get_by_role("button", name="派遣", exact=True).click()
    row(console, case_a).locator(".badge.state-dispatched").wait_for()
    console.locator("#timeline li", has_text="派遣").first.wait_for()
    screenshot(console, "journey-console-detail")
    # -- the department accepts and resolves with evidence ----------------------------
    desk = new_page(1280, 900)
    sign_in(desk, f"{hub.base}/console/", department)
    row(desk, case_a).click()
    desk.get_by_role("button", name="签收").click()
    row(desk, case_a).locator(".badge.state-in_progress").wait_for()
    desk.locator("#detail .badge.state-in_progress").wait_for()
    assert desk.locator("#do-accept").count() == 0  # the form follows the state
    desk.get_by_label("处置说明").fill("已清理楼道杂物，消防通道畅通")
    desk.get_by_label("处置照片").set_input_files(str(photo))
    desk.get_by_role("button", name="办结并反馈").click()
    row(desk, case_a).locator(".badge.state-resolved").wait_for()
    desk.locator("#resolution img[src^='blob:']").wait_for()
    screenshot(desk, "journey-console-department")
    # -- the grid worker verifies on site -----------------------------------------------
    task = phone.locator(f"#tasks li[data-case='{case_a}']")
    task.wait_for()  # the live stream refreshed the list
    task.get_by_label("核查说明").fill("现场复核，已清理干净")
    task.get_by_label("核查照片").set_input_files(str(photo))
    screenshot(phone, "journey-m-verify")
    task.get_by_role("button", name="核查通过").click()
    phone.locator(f"#tasks li[data-case='{case_a}']").wait_for(state="detached")
    phone.locator("#mine .badge.state-closed").wait_for()
    phone.locator("#mine .badge.state-merged").wait_for()
    screenshot(phone, "journey-m-after-verify")
    assert phone.errors == [], phone.errors

    closed = hub.api(operator, f"/api/v1/cases/{case_a}")
    assert closed["state"] == "closed"
    assert closed["report_count"] >= 1
    types = [entry["type"] for entry in closed["timeline"]]
    for step in ("opened", "dispatched", "accepted", "resolved", "verified", "closed"):
        assert step in types, types
    assert hub.api(operator, f"/api/v1/cases/{case_b}")["merged_into"] == case_a
    assert report_count(hub.db_url) == 2  # still: the retry was the same report
    assert console.errors == [], console.errors
    # -- the leaders' page shows it in its figures, charts and files ------------------
    boss = new_page(1280, 900, accept_downloads=True)
    sign_in(boss, f"{hub.base}/reports/", leader)
    boss.locator("#tile-new .n", has_text="2").wait_for()
    boss.locator("#tile-closed .n", has_text="1").wait_for()
    bars = boss.locator("#trend svg.chart rect.bar")
    bars.last.wait_for(state="attached")
    assert bars.count() == 14
    assert bars.last.get_attribute("data-value") == "2"  # today
    box = bars.last.bounding_box()
    assert box is not None and box["height"] > 20  # drawn, not just present
    weeks = boss.locator("#weeks svg.chart rect.bar")
    weeks.nth(7).wait_for(state="attached")  # drawn after the daily chart
    assert weeks.count() == 8 and weeks.last.get_attribute("data-value") == "2"
    scores = boss.locator("#dept-scores tbody tr", has_text=DEPARTMENT_NAME)
    scores.wait_for()
    assert "100.0%" in scores.inner_text()  # 结案率: 1 closed of 1 dispatched
    boss.get_by_label("排名指标").select_option("closure_rate")
    boss.locator("#dept-chart svg.chart rect.bar").first.wait_for(state="attached")
    boss.locator("#hotmap svg.gridmap text.maplabel").first.wait_for()
    worker_row = boss.locator("#gw-scores tbody tr", has_text="张网格")
    worker_row.wait_for()
    assert worker_row.locator("td").all_inner_texts()[1:] == ["张网格", "2", "1", "100.0%"]
    screenshot(boss, "journey-reports")

    with boss.expect_download() as pdf_download:
        boss.get_by_role("button", name="下载 PDF").click()
    pdf = Path(pdf_download.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF-")
    (screenshot.directory / "brief.pdf").write_bytes(pdf)
    with boss.expect_download() as csv_download:
        boss.get_by_role("button", name="导出案件 CSV（所选周期）").click()
    exported = Path(csv_download.value.path()).read_text(encoding="utf-8-sig")
    assert case_a in exported and case_b in exported
    assert "<b>A</b>" in exported  # text, as written (CSV is not markup)
    assert boss.errors == [], boss.errors
