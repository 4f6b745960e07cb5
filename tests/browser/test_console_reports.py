"""``/console/`` and ``/reports/`` in headless Chromium against a real uvicorn
server: sign in, Chinese labels, the live stream, SVG map and charts on an empty
district; then the console's banners (a P1 case arriving live, a hotspot the duty
office was told of), SLA state as text and colour, filters, the keyboard, and
user text shown as text. Screenshots in test-artifacts/."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import insert

from schemas.cases import CaseEventType, Priority, SlaState
from schemas.reports import Report
from sinks.outbox_models import inbox
from tests.support.cases import CaseStory, make_report

pytestmark = pytest.mark.browser


def sign_in(page, base: str, path: str, token: str) -> None:
    page.goto(f"{base}{path}")
    page.get_by_label("访问令牌").fill(token)
    page.get_by_role("button", name="登录").click()


def test_console_signs_in_and_goes_live(live_gateway, phone, screenshot) -> None:
    page = phone
    page.set_viewport_size({"width": 1280, "height": 800})
    sign_in(page, live_gateway.base, "/console/", live_gateway.token("operator"))
    page.get_by_role("heading", name="案件队列", exact=True).wait_for()
    page.locator("#live", has_text="实时").wait_for()  # SSE over fetch, bearer header
    for label in ("筛选", "优先级", "时限状态", "案件详情"):
        assert page.get_by_text(label, exact=True).first.is_visible(), label
    street = page.get_by_role("combobox", name="街道", exact=True)
    assert street.input_value() == ""  # every street until the operator picks one
    streets = street.locator("option").all_inner_texts()  # from the grid GeoJSON
    assert streets == ["全部", "示范街道", "试点街道", "样例街道"]
    assert page.get_by_role("combobox", name="状态", exact=True).input_value() == "live"
    screenshot(page, "console-empty")
    page.get_by_role("button", name="English").click()
    page.get_by_role("heading", name="Filters").wait_for()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("#live").inner_text() == "Live"
    assert page.get_by_label("Street", exact=True).locator("option").first.inner_text() == "All"
    page.get_by_role("button", name="中文").click()  # and back: the choice is remembered
    page.get_by_role("heading", name="筛选").wait_for()
    assert page.errors == [], page.errors


def test_reports_page_draws_charts(live_gateway, phone, screenshot) -> None:
    page = phone
    page.set_viewport_size({"width": 1280, "height": 800})
    sign_in(page, live_gateway.base, "/reports/", live_gateway.token("leader"))
    page.get_by_role("heading", name="今日概览").wait_for()
    page.locator("#trend svg.chart rect").first.wait_for(state="attached")
    page.locator("#hotmap svg.gridmap path").first.wait_for(state="attached")
    assert page.locator("#hotmap svg.gridmap path").count() == 24  # demo district grids
    assert page.get_by_text("今日新增").is_visible()
    axis = page.locator("#trend svg.chart text.axis").all_text_contents()
    assert "1" in axis and "0.5" not in axis  # case counts have whole-number ticks
    screenshot(page, "reports-empty")
    page.locator("#brief-span").select_option("week")  # the week the chosen day falls in
    page.locator("#brief-summary h3", has_text="-W").wait_for()
    page.get_by_role("button", name="English").click()
    page.get_by_role("heading", name="Today at a glance").wait_for()
    page.locator("#tiles", has_text="New today").wait_for()
    page.locator("#trend svg.chart title", has_text="Bar chart of new cases per day").wait_for(
        state="attached"
    )
    screenshot(page, "reports-english")
    assert page.errors == [], page.errors


def photoless(report_id: str, **fields: Any) -> Report:
    return make_report(report_id, **fields).model_copy(update={"media": []})


DEMO_GRID = "990101001001001"  # 示范街道 · 东园社区第1网格
OTHER_STREET_GRID = "990101002001001"  # 试点街道


def test_console_banners_filters_and_keyboard(live_gateway, phone, screenshot) -> None:
    page = phone
    page.set_viewport_size({"width": 1280, "height": 800})
    with live_gateway.engine.begin() as conn:  # the duty office was told of a hotspot
        conn.execute(
            insert(inbox).values(
                notification_id="duty_office:hotspot:990101001001001:garbage",
                recipient="duty_office",
                channel="app",
                case_id=None,
                event_type="org.gridhub.alert.hotspot",
                subject="热点：东园社区第1网格 垃圾堆积 1 小时内 6 起",
                body="",
                data={"kind": "hotspot", "grid_code": DEMO_GRID, "detail": {"count": 6}},
                time=datetime.now(UTC),
                read_at=None,
            )
        )
    sign_in(page, live_gateway.base, "/console/", live_gateway.token("operator"))
    page.locator("#live[data-state='live']").wait_for()
    page.locator(".banner-hotspot", has_text="垃圾堆积 1 小时内 6 起").wait_for()

    now = datetime.now(UTC)
    routine = CaseStory.open(
        "990101002001-routine",
        report=photoless("r-routine", grid_code=OTHER_STREET_GRID, category="garbage", at=now),
        at=now,
    )
    routine.dispatch("chengguan")
    routine.step(CaseEventType.SUPERVISED, sla_state=SlaState.OVERDUE)
    gas = CaseStory.open(
        "990101001001-gas",
        report=photoless(
            "r-gas",
            grid_code=DEMO_GRID,
            category="gas_smell",
            at=now,
            description='燃气味很浓 <img src=x onerror="document.title=1">',
        ),
        priority=Priority.P1,
        at=now,
    )
    live_gateway.happen([*routine.events, *gas.events])

    # both arrive live; the P1 raises a banner; SLA state is text as well as colour
    p1_banner = page.locator(".banner-p1", has_text="990101001001-gas")
    p1_banner.wait_for()
    assert "新的 P1 紧急案件" in p1_banner.inner_text()
    page.locator("#rows tr[data-case='990101002001-routine'] .badge.sla-overdue").wait_for()
    assert page.locator("#rows tr").count() == 2
    assert page.locator("#rows tr").first.get_attribute("data-case") == "990101001001-gas"
    overdue = page.locator("#rows tr[data-case='990101002001-routine'] .badge.sla-overdue")
    assert overdue.inner_text() == "超期"
    screenshot(page, "console-banners")

    # filters: by street (server-side) and by priority; sort by newest
    page.get_by_label("街道", exact=True).select_option("990101002")
    page.locator("#rows tr[data-case='990101001001-gas']").wait_for(state="detached")
    assert page.locator("#rows tr").count() == 1
    page.get_by_label("街道", exact=True).select_option("")
    page.get_by_label("优先级", exact=True).select_option("P1")
    page.locator("#rows tr[data-case='990101002001-routine']").wait_for(state="detached")
    page.get_by_label("优先级", exact=True).select_option("")
    page.locator("#rows tr[data-case='990101002001-routine']").wait_for()

    # keyboard: j moves to the first row, Enter opens it; user text stays text
    page.locator("body").click()
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    page.locator("#detail-h", has_text="990101001001-gas").wait_for()
    page.locator("#report-list li", has_text='<img src=x onerror="document.title=1">').wait_for()
    assert page.title() == "GridHub 值班坐席"
    page.keyboard.press("d")  # jumps to the dispatch picker
    assert page.evaluate("document.activeElement.id") == "act-department"
    page.get_by_role("button", name="关闭提示").first.click()
    assert page.locator(".banner-hotspot").count() == 0
    assert page.errors == [], page.errors


# The console's buttons for each action of ``case.actions``.
BUTTONS = {
    "verify": ["do-verify-pass", "do-verify-fail"],
    "decide_extension": ["do-approve-extension", "do-refuse-extension"],
}


def test_console_draws_exactly_the_actions_the_case_lists(live_gateway, browser) -> None:
    """No rule lives in the page: for each role the buttons are the case's ``actions``."""
    now = datetime.now(UTC)
    case = CaseStory.open(
        "990101001001-buttons",
        report=photoless("r-buttons", grid_code=DEMO_GRID, category="garbage", at=now),
        at=now,
    )
    case.dispatch("chengguan")
    live_gateway.happen(case.events)
    for role, scope in (("operator", None), ("department", "chengguan"), ("leader", None)):
        token = live_gateway.token(role, scope=scope, name=f"buttons-{role}")
        detail = httpx.get(
            f"{live_gateway.base}/api/v1/cases/{case.case.id}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ).json()
        expected = sorted(b for a in detail["actions"] for b in BUTTONS.get(a, [f"do-{a}"]))
        context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
        page.on(
            "console",
            lambda msg, errors=errors: errors.append(msg.text) if msg.type == "error" else None,
        )
        sign_in(page, live_gateway.base, "/console/", token)
        page.locator(f"#rows tr[data-case='{case.case.id}']").click()
        page.locator("#detail-h", has_text=case.case.id).wait_for()
        buttons = page.locator("#action-form button[id^='do-']")
        drawn = sorted(buttons.evaluate_all("(nodes) => nodes.map((n) => n.id)"))
        context.close()
        assert drawn == expected, role
        assert errors == [], errors
    assert detail["actions"] == ["comment"]  # a leader only comments
