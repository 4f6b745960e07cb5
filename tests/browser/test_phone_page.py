"""``/m/`` in headless Chromium against a real uvicorn server: Chinese labels
render, a grid worker signs in with a token and files a report with a photo
(the report reaches the bus once), and the screenshot lands in test-artifacts/."""

from __future__ import annotations

import base64
from pathlib import Path

import orjson
import pytest

pytestmark = pytest.mark.browser

GRID = "990101001001001"  # demo district (synthetic)
# A 1x1 PNG, a real image the media endpoint accepts.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)


def test_phone_page_signs_in_and_reports(live_gateway, phone, screenshot, tmp_path: Path) -> None:
    page = phone
    page.goto(f"{live_gateway.base}/m/")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    page.get_by_role("heading", name="登录").wait_for()
    screenshot(page, "m-signin")

    page.get_by_label("访问令牌").fill(live_gateway.token("grid_worker", name="张网格"))
    page.get_by_role("button", name="登录").click()
    page.get_by_role("heading", name="新建上报").wait_for()
    for label in ("事件类别", "问题描述", "现场照片", "待核查", "我的上报"):
        assert page.get_by_text(label, exact=True).first.is_visible(), label

    # search in Chinese narrows the picker to the manhole cover category
    page.get_by_placeholder("搜索类别（中文或英文）").fill("井盖")
    page.locator("#category").select_option("manhole_cover")
    page.get_by_label("问题描述").fill("井盖缺失 <script>alert(1)</script>")
    photo = tmp_path / "photo.png"
    photo.write_bytes(PNG)
    page.get_by_label("现场照片").set_input_files(str(photo))
    page.get_by_label("或选择网格").select_option(GRID)
    page.get_by_role("button", name="提交上报").click()
    page.get_by_text("已上报", exact=True).wait_for()
    # the description is shown as text, never parsed as markup
    page.get_by_text("井盖缺失 <script>alert(1)</script>").first.wait_for()
    screenshot(page, "m-reported")

    published = live_gateway.publisher.records
    assert len(published) == 1
    report = orjson.loads(published[0].value)  # placed and sent straight to gridhub.reports
    assert published[0].topic.endswith("gridhub.reports")
    assert report["grid_code"] == GRID
    assert len(report["media"]) == 1
    assert page.errors == [] or all("404" in e for e in page.errors), page.errors

    # English is one click away
    page.get_by_role("button", name="English").click()
    page.get_by_role("heading", name="New report").wait_for()
    assert page.locator("#report-status").inner_text() == "Reported"
    screenshot(page, "m-english")


def test_offline_report_waits_in_outbox_and_is_sent_once(live_gateway, phone, screenshot) -> None:
    page = phone
    page.goto(f"{live_gateway.base}/m/")
    page.get_by_label("访问令牌").fill(live_gateway.token("grid_worker"))
    page.get_by_role("button", name="登录").click()
    page.get_by_role("heading", name="新建上报").wait_for()
    page.locator(f"#grid option[value='{GRID}']").wait_for(state="attached")  # reference data in

    page.context.set_offline(True)
    page.get_by_placeholder("搜索类别（中文或英文）").fill("garbage")
    page.locator("#category").select_option("garbage")
    page.get_by_label("问题描述").fill("垃圾堆积 offline")
    page.get_by_label("或选择网格").select_option(GRID)
    page.get_by_role("button", name="提交上报").click()
    page.get_by_text("已保存，联网后自动发送").wait_for()
    assert page.locator("#outbox li").filter(has_text="垃圾堆积 offline").count() == 1
    screenshot(page, "m-offline-outbox")
    assert live_gateway.publisher.records == []

    page.context.set_offline(False)  # fires `online`: the outbox is flushed
    page.locator("#mine li").filter(has_text="垃圾堆积 offline").wait_for()
    assert page.locator("#outbox li").filter(has_text="垃圾堆积 offline").count() == 0
    assert len(live_gateway.publisher.records) == 1
