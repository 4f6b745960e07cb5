"""``/console/`` and ``/reports/`` load in headless Chromium against a real uvicorn
server, sign in, render Chinese labels, connect the live stream and draw the SVG
map and charts (an empty district: no cases yet). Screenshots in test-artifacts/."""

from __future__ import annotations

import pytest

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
    for label in ("筛选", "优先级", "时限", "案件详情"):
        assert page.get_by_text(label, exact=True).first.is_visible(), label
    page.get_by_role("combobox", name="街道").select_option(index=1)  # streets from the GeoJSON
    screenshot(page, "console")
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
    screenshot(page, "reports")
    assert page.errors == [], page.errors
