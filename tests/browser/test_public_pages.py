"""The citizens' and the public's pages in Chromium, against real ``gridhub
worker`` and ``gridhub gateway`` processes on the real broker (SQLite):

- a reporter opens the feedback link the hub issued for a closed case, reads its
  progress in plain words and rates it 2 with a comment; the low score travels
  through the case agent to the duty office, whose console shows the 回访不满意
  banner (dismissing it marks the item read);
- anyone opens ``/public/`` with no token: the scorecards, the SVG charts and the
  closed-case stories, in Chinese and (one click) in English, with none of the
  reporter's personal data anywhere on the page;
- the leaders' ``/reports/`` draws the last 24 hours by hour against the hotspot
  baseline.

Screenshots land in ``test-artifacts/``."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from schemas.publicdata import personal_data_in
from sinks.db import make_engine, upgrade
from sinks.outbox_models import inbox
from sinks.tokens import TokenStore
from tests.fixtures.worker import HubEnv, HubProcess, wait_http, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.kafka]

SECRET = "browser-public-secret"
STEP_MS = 45_000
WAIT = 45.0
NAME, PHONE, ID_NUMBER = "陈美玲", "13765432109", "110105198812123456"


@pytest.fixture
def hub(
    hub_env: Any, running: list[HubProcess], tmp_path: Path
) -> Iterator[tuple[str, TokenStore, str]]:
    db_url = f"sqlite:///{tmp_path / 'public.db'}"
    upgrade(db_url)
    env: HubEnv = hub_env(db_url)
    extra = {"GRIDHUB_TOKEN_SECRET": SECRET, "GRIDHUB_GATEWAY_SHUTDOWN_GRACE": "1"}
    running.append(env.spawn("worker", **extra))
    running.append(env.spawn("gateway", **extra))
    base = f"http://127.0.0.1:{env.env['GRIDHUB_GATEWAY_PORT']}"
    wait_http(f"{base}/readyz", timeout=90)
    engine = make_engine(db_url)
    try:
        yield base, TokenStore(engine, secret=SECRET), db_url
    finally:
        engine.dispose()


@pytest.fixture
def new_page(hub: Any, browser: Any) -> Iterator[Callable[..., Any]]:
    contexts: list[Any] = []

    def make(width: int, height: int) -> Any:
        context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
        contexts.append(context)
        context.set_default_timeout(STEP_MS)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.errors = errors
        return page

    yield make
    for context in contexts:
        context.close()


def test_feedback_link_public_page_and_windows_chart(hub, new_page, screenshot):
    base, tokens, db_url = hub

    def token(role: str, scope: str | None = None) -> dict[str, str]:
        plaintext, _ = tokens.create(role, f"browser-{role}", scope=scope)
        return {"Authorization": f"Bearer {plaintext}"}

    operator_headers = token("operator")
    worker_headers = token("grid_worker", "990101001001")
    http = httpx.Client(base_url=base, timeout=15)

    # A report that names its reporter (and, carelessly, an ID number in its text).
    sent = http.post(
        "/api/v1/reports",
        json={
            "category": "garbage",
            "description": f"{NAME}反映：垃圾三天没清，电话{PHONE}，身份证{ID_NUMBER}",
            "location": {"lat": 39.9021, "lon": 116.3822},
            "reporter": {"name": NAME, "phone": PHONE},
        },
        headers={**worker_headers, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert sent.status_code == 202, sent.text
    report_id = sent.json()["report_id"]

    def case_id() -> str | None:
        answer = http.get(f"/api/v1/reports/{report_id}", headers=operator_headers)
        return answer.json().get("case_id") if answer.status_code == 200 else None

    cid = wait_until(case_id, WAIT, "the case")
    department = token("department", "chengguan")

    def act(headers: dict[str, str], body: dict[str, Any], state: str) -> None:
        answer = http.post(f"/api/v1/cases/{cid}/actions", json=body, headers=headers)
        assert answer.status_code in (200, 202), answer.text
        wait_until(
            lambda: (
                http.get(f"/api/v1/cases/{cid}", headers=operator_headers).json()["state"] == state
            ),
            WAIT,
            state,
        )

    act(department, {"action": "resolve", "note": "已清运"}, "resolved")
    act(operator_headers, {"action": "verify", "passed": True}, "closed")

    engine = make_engine(db_url)

    def link() -> str | None:
        with engine.connect() as conn:
            data = conn.scalar(
                select(inbox.c.data).where(inbox.c.recipient == f"contact:{report_id}")
            )
        return str(data["link"]) if data else None

    path = wait_until(link, WAIT, "the feedback link")
    engine.dispose()

    # -- the reporter rates it through the link ---------------------------------------------
    citizen = new_page(390, 844)
    citizen.goto(f"{base}{path}")
    citizen.locator("#fact-state").wait_for()
    assert citizen.locator("#status").inner_text().startswith("已核查结案")
    assert citizen.locator("#fact-category").inner_text() == "垃圾堆积"
    citizen.get_by_label("2", exact=True).check()
    citizen.locator("#comment").fill("还有一堆没清走")
    screenshot(citizen, "feedback-link-before-rating")
    citizen.get_by_role("button", name="提交评价").click()
    citizen.locator("#done-text").filter(has_text="您的评分：2 分").wait_for()
    assert "总值班室将回访核实" in citizen.locator("#done-text").inner_text()
    screenshot(citizen, "feedback-link-rated-low")
    citizen.reload()
    citizen.locator("#done-text").filter(has_text="您已评价过").wait_for()
    assert citizen.locator("#rate-card").is_hidden()  # once only
    assert citizen.errors == []

    # -- the low score reaches the duty office: its console shows 回访不满意 ----------------
    console = new_page(1280, 860)
    console.goto(f"{base}/console/")
    console.get_by_label("访问令牌").fill(operator_headers["Authorization"].split()[1])
    console.get_by_role("button", name="登录").click()
    unsatisfied = console.locator(".banner-unsatisfied")
    deadline_ms = STEP_MS
    for _ in range(3):  # the console polls the inbox every 20 s
        try:
            unsatisfied.wait_for(timeout=deadline_ms)
            break
        except Exception:
            console.reload()
    assert (
        "评分为 2 分" in unsatisfied.inner_text() and "还有一堆没清走" in unsatisfied.inner_text()
    )
    screenshot(console, "console-unsatisfied-banner")
    unsatisfied.locator("button").last.click()  # dismiss: × (its label says so)
    wait_until(
        lambda: all(
            m["read_at"]
            for m in http.get("/api/v1/me/inbox", headers=operator_headers).json()["items"]
            if m["event_type"] == "org.gridhub.feedback.unsatisfied"
        ),
        WAIT,
        "the item marked read",
    )
    assert console.errors == []

    # -- the public page, no token ---------------------------------------------------------------
    public = new_page(1280, 900)
    public.goto(f"{base}/public/")
    public.locator("#dept-scores tbody tr").first.wait_for()
    assert public.locator("#story-table tbody tr").count() >= 1
    assert public.locator("#day-chart svg rect.bar").count() >= 28
    assert public.locator("#dept-chart svg[role=img] > title").count() == 1
    assert "垃圾堆积" in public.locator("#story-table").inner_text()
    text = public.locator("body").inner_text()
    assert personal_data_in(text, [NAME]) == [] and PHONE not in public.content()
    screenshot(public, "public-zh")
    public.get_by_role("button", name="English").click()
    public.get_by_role("heading", name="Departments, ranked").wait_for()
    assert public.locator("html").get_attribute("lang") == "en"
    screenshot(public, "public-en")
    assert public.errors == []

    # -- the windows chart on /reports/ ------------------------------------------------------
    leader = new_page(1280, 900)
    leader.goto(f"{base}/reports/")
    leader.get_by_label("访问令牌").fill(token("leader")["Authorization"].split()[1])
    leader.get_by_role("button", name="登录").click()
    chart = leader.locator("#windows-chart svg")
    chart.wait_for()
    assert chart.locator("rect.bar").count() == 24
    assert (
        chart.locator("path.baseline").count() == 1 and chart.locator("path.threshold").count() == 1
    )
    assert chart.locator("rect.bar[data-value='1']").count() == 1  # this hour's report
    leader.locator("#windows-chart").scroll_into_view_if_needed()
    screenshot(leader, "reports-windows")
    leader.locator("#area-scores").wait_for()
    assert leader.errors == []
