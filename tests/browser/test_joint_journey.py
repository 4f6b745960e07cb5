"""A joint case (联合执法) from dispatch to close, in the pages, on real
``gridhub worker`` and ``gridhub gateway`` processes and the real broker.

The duty office finds the case by its reporter's phone, rejects two strays in one
bulk action, and dispatches the case by hand to 城管 (chengguan, lead) with 住建
(zhujian, co). On the department's phone view (/d/, 390 px) 住建 returns its part;
the duty office reassigns it to 公安 (gongan), which accepts and does it. 城管
accepts, asks for two more days, which the duty office approves from its list of
extensions; the duty office issues a 重点 supervision order, 城管 answers it from
the phone, then resolves with a photo, and the duty office verifies and closes.
The console at 390 px keeps its title on one line and the page does not scroll
sideways. The case's timeline, as the API prints it, is kept in
``test-artifacts/joint-case-timeline.json`` for the record."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.worker import wait_until
from tests.support.images import make_png
from tests.support.pages import Hub, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.kafka]

LEAD, CO, HELPER = "chengguan", "zhujian", "gongan"
COMMUNITY = "990101001001"
PHONE = "139 1234 5678"


def report(hub: Hub, token: str, description: str, lat: float, lon: float, phone: str) -> str:
    body = {
        "category": "other",  # no routing rule: the duty office dispatches by hand
        "description": description,
        "location": {"lat": lat, "lon": lon},
        "reporter": {"name": "王先生", "phone": phone},
    }
    return str(hub.post(token, "/api/v1/reports", body)["report_id"])


def case_of(hub: Hub, token: str, report_id: str) -> str:
    def found() -> str | None:
        try:
            return hub.api(token, f"/api/v1/reports/{report_id}").get("case_id")
        except AssertionError:
            return None

    return str(wait_until(found, 60, f"the case of {report_id}", interval=0.5))


def row(page: Any, case_id: str) -> Any:
    return page.locator(f"#rows tr[data-case='{case_id}']")


def card(page: Any, case_id: str) -> Any:
    return page.locator(f"#my-cases li[data-case='{case_id}']")


def task_row(page: Any, department: str) -> Any:
    return page.locator(f"#tasks tr[data-department='{department}']")


def test_a_joint_case_from_dispatch_to_close(
    hub: Hub, new_page: Callable[..., Any], screenshot: Any, tmp_path: Path
) -> None:
    photo = tmp_path / "done.png"
    photo.write_bytes(make_png())
    worker = hub.token("grid_worker", COMMUNITY, "张网格")
    operator = hub.token("operator", None, "值班员王")
    lead = hub.token("department", LEAD, "城管处置")
    co = hub.token("department", CO, "住建处置")
    helper = hub.token("department", HELPER, "公安处置")

    joint = case_of(
        hub, worker, report(hub, worker, "小区内新建违建，需联合执法", 39.9020, 116.3830, PHONE)
    )
    strays = [
        case_of(
            hub,
            worker,
            report(hub, worker, f"误报 {n}", 39.9030 + 0.002 * n, 116.3880, "13800000009"),
        )
        for n in (1, 2)
    ]
    # -- the duty office: search by phone, a bulk reject, dispatch with a co-department --
    console = new_page(1280, 900)
    sign_in(console, f"{hub.base}/console/", operator)
    console.locator("#live[data-state='live']").wait_for()
    row(console, joint).wait_for()
    console.get_by_label("报告人电话（仅坐席，留痕）").fill("13912345678")
    console.get_by_role("button", name="查找", exact=True).click()
    console.locator("#find-status", has_text="找到 1 件").wait_for()
    assert console.locator("#rows tr").count() == 1 and "电话" in row(console, joint).inner_text()
    console.get_by_role("button", name="返回队列").click()
    for stray in strays:
        row(console, stray).wait_for()
        row(console, stray).locator("input.pick").check()
    console.locator("#bulk-h", has_text="已选 2 件").wait_for()
    console.locator("#bulk-action").select_option("reject")
    console.locator("#bulk-note").fill("重复误报")
    console.get_by_role("button", name="对所选执行").click()
    console.locator("#bulk-result", has_text="已执行 2 件").wait_for()
    for stray in strays:
        row(console, stray).wait_for(state="detached")  # rejected: out of the live queue

    row(console, joint).click()
    console.locator("#detail-h", has_text=joint).wait_for()
    console.locator("#act-department").select_option(LEAD)
    console.locator("#act-co").select_option([CO])
    console.locator("#do-dispatch").click()
    task_row(console, CO).wait_for()
    assert "主办" in task_row(console, LEAD).inner_text()
    assert "协办" in task_row(console, CO).inner_text()
    screenshot(console, "joint-console-dispatched")

    # -- 住建, on its phone, returns its part; the duty office reassigns it ----------
    zhujian = new_page(390, 844, is_mobile=True, has_touch=True)
    sign_in(zhujian, f"{hub.base}/d/", co)
    card(zhujian, joint).click()
    zhujian.locator("#detail-h", has_text=joint).wait_for()
    screenshot(zhujian, "joint-d-co-task")
    zhujian.locator("#act-return-reason").fill("该违建不涉及住建审批")
    zhujian.locator("#do-return").click()
    card(zhujian, joint).wait_for(state="detached")  # its part went back to the duty office
    task_row(console, CO).locator(".task-returned").wait_for()
    assert console.locator("#detail .badge.state-dispatched").count() == 1  # the lead stays
    console.locator("#act-reassign-task").select_option(CO)
    console.locator("#act-reassign-to").select_option(HELPER)
    console.locator("#act-reassign-reason").fill("需公安协助维持现场秩序")
    console.locator("#do-reassign").click()
    task_row(console, HELPER).wait_for()
    task_row(console, CO).locator(".task-reassigned").wait_for()

    # -- 公安 accepts and does its part -------------------------------------------------
    gongan = new_page(390, 844, is_mobile=True, has_touch=True)
    sign_in(gongan, f"{hub.base}/d/", helper)
    card(gongan, joint).click()
    gongan.locator("#do-accept").click()
    gongan.locator("#tasks tr[data-department='gongan'][data-state='in_progress']").wait_for()
    gongan.locator("#act-resolve-note").fill("现场秩序维护完毕")
    gongan.locator("#do-resolve").click()
    gongan.locator("#tasks tr[data-department='gongan'][data-state='done']").wait_for()

    # -- 城管 accepts and asks for two more days; the duty office approves -------------
    chengguan = new_page(390, 844, is_mobile=True, has_touch=True)
    sign_in(chengguan, f"{hub.base}/d/", lead)
    card(chengguan, joint).click()
    chengguan.locator("#do-accept").click()
    chengguan.locator("#tasks tr[data-department='chengguan'][data-state='in_progress']").wait_for()
    chengguan.locator("#act-extension-reason").fill("业主申请听证")
    chengguan.locator("#do-request_extension").click()
    chengguan.locator("#extensions li[data-state='pending']").wait_for()
    before = hub.api(operator, f"/api/v1/cases/{joint}")["resolve_by"]
    console.locator(f"#pending-extensions li[data-case='{joint}']").click()
    console.locator("#do-approve-extension").click()
    console.locator("#extensions li[data-state='approved']").wait_for()
    assert hub.api(operator, f"/api/v1/cases/{joint}")["resolve_by"] > before

    # -- a 重点 supervision order, answered from the phone ------------------------------
    console.locator("#act-order-level").select_option("key")
    console.locator("#act-order-text").fill("请说明拆除进度")
    console.locator("#do-order").click()
    console.locator(f"#open-orders li[data-case='{joint}']").wait_for()
    card(chengguan, joint).locator(".status", has_text="待回复督办单 1").wait_for()
    chengguan.locator("#act-reply-text").fill("听证已结束，明日拆除")
    chengguan.locator("#do-reply").click()
    chengguan.locator("#orders li[data-state='answered']").wait_for()
    console.locator(f"#open-orders li[data-case='{joint}']").wait_for(state="detached")

    # -- 城管 resolves (公安's part is done) with a photo; the duty office verifies ---
    chengguan.locator("#act-resolve-note").fill("违建已拆除，现场已清理")
    chengguan.locator("#act-resolve-photo").set_input_files(str(photo))
    chengguan.locator("#do-resolve").click()
    card(chengguan, joint).wait_for(state="detached")  # resolved: no more work for it here
    screenshot(chengguan, "joint-d-after-resolve")
    row(console, joint).locator(".badge.state-resolved").wait_for()
    console.locator("#act-verify-note").fill("现场复核，已拆除")
    console.locator("#do-verify-pass").click()
    console.locator("#detail .badge.state-closed").wait_for()
    screenshot(console, "joint-console-closed")

    # -- the console at 390 px: a title on one line, no sideways scrolling ------------
    narrow = new_page(390, 844, is_mobile=True, has_touch=True)
    sign_in(narrow, f"{hub.base}/console/", operator)
    narrow.locator("#live[data-state='live']").wait_for()
    narrow.locator("#f-state").select_option("")  # every case: the day's are all finished
    row(narrow, joint).wait_for()
    screenshot(narrow, "joint-console-390")
    # What sticks out past the right edge, if anything does (for the message).
    wide = narrow.evaluate(
        "[...document.querySelectorAll('body *')]"
        ".filter((n) => n.getBoundingClientRect().right > 391).slice(0, 8)"
        ".map((n) => `${n.tagName}#${n.id}.${n.className}`)"
    )
    title = narrow.locator("header.bar h1").bounding_box()
    assert title is not None and title["height"] < 40 and title["width"] > 300, title
    assert narrow.evaluate("document.documentElement.scrollWidth") <= 390, wide
    queue = narrow.locator("table.queue").first.bounding_box()
    assert queue is not None and queue["width"] <= 390, queue

    closed = hub.api(operator, f"/api/v1/cases/{joint}")
    assert closed["state"] == "closed"
    assert [(t["department"], t["role"], t["state"]) for t in closed["tasks"]] == [
        (LEAD, "lead", "done"),
        (CO, "co", "reassigned"),
        (HELPER, "co", "done"),
    ]
    assert closed["extensions"][0]["state"] == "approved"
    assert closed["orders"][0]["state"] == "answered"
    types = [e["type"] for e in closed["timeline"]]
    for step in (
        "dispatched",
        "task_changed",
        "reassigned",
        "extension_requested",
        "extension_decided",
        "order_issued",
        "order_replied",
        "resolved",
        "verified",
        "closed",
    ):
        assert step in types, types
    screenshot.directory.mkdir(exist_ok=True)
    (screenshot.directory / "joint-case-timeline.json").write_text(
        json.dumps(closed["timeline"], ensure_ascii=False, indent=1), encoding="utf-8"
    )
    for page in (console, zhujian, gongan, chengguan, narrow):
        assert page.errors == [], page.errors
