"""End to end on the real broker and PostgreSQL: what citizens and the public see.

Reports that name a reporter come in through every door — the phone page, Open311
and the 12345 hotline over CloudEvents — with names, phone numbers and ID numbers
in their reporter fields and in their free text. Each gets a private feedback
link; one case is handled to the end and its reporter rates it 1 through the
link: the rating reaches the case and the department's satisfaction, and the
duty office gets a 回访不满意 item. Then every public response (the public JSON,
the page, the bulletin PDF's text, Open311 reads, the feedback link) is scanned
for the personal data, and none is found.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
import pytest
from sqlalchemy import select

from schemas.envelope import REPORT_SUBMITTED, Envelope
from schemas.publicdata import personal_data_in
from sinks.db import make_engine, upgrade
from sinks.outbox_models import inbox
from streams.logic.intake import derived_report_id
from tests.fixtures.worker import wait_http, wait_until
from tests.support.cli import cli_token
from tests.support.pdf import pdf_text
from tests.support.receivers import check_sms, json_receiver, smtp_server

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]

WAIT = 45.0
HOTLINE = "urn:system:12345"
NAMES = ["王小明", "李秀英", "赵建国"]
PHONES = ["13912345678", "13687654321", "15011112222"]
ID_NUMBERS = ["110105199001011234", "11010519850505432X", "110105197712127777"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def secret_text(n: int) -> str:
    return f"我是{NAMES[n]}，电话{PHONES[n]}，身份证{ID_NUMBERS[n]}，问题请尽快处理"


def test_feedback_links_ratings_and_no_personal_data_in_public(hub_env, postgres_url, running):
    with (
        smtp_server() as (mailbox, smtp_port),
        json_receiver([(200, {"code": "OK"})], check_sms) as sms,
    ):
        _feedback_and_public(hub_env, postgres_url, running, mailbox, smtp_port, sms)


def _feedback_and_public(hub_env, postgres_url, running, mailbox, smtp_port, sms):
    env = hub_env(postgres_url)
    # The notification channels, on local receivers: the duty office's e-mail and
    # the reporters' SMS (notify.yaml of the demo district says who gets what).
    env.env |= {
        "GRIDHUB_SMTP_HOST": "127.0.0.1",
        "GRIDHUB_SMTP_PORT": str(smtp_port),
        "GRIDHUB_SMS_URL": sms.url,
        "GRIDHUB_SMS_API_KEY": "sms-key",
        "GRIDHUB_CHANNEL_RATE_PER_SECOND": "50",
        # The scan below reads every public door at once, some thirty reads from
        # one address: more than a visitor's burst (tests/security floods that).
        "GRIDHUB_RATE_LIMITS": json.dumps({"anonymous": "1000/minute"}),
    }
    upgrade(postgres_url)
    operator = bearer(cli_token(env.env, "operator", "e2e-operator"))
    phone_worker = bearer(cli_token(env.env, "grid_worker", "e2e-gw", "990101001001001"))
    shizheng = bearer(cli_token(env.env, "department", "市政", "shizheng"))
    hotline = bearer(cli_token(env.env, "system", "12345 热线", HOTLINE))
    api_key = cli_token(env.env, "system", "12345 Open311", HOTLINE)
    running.append(env.spawn("worker"))
    running.append(env.spawn("gateway"))
    base = f"http://127.0.0.1:{env.env['GRIDHUB_GATEWAY_PORT']}"
    wait_http(f"{base}/readyz", timeout=60)
    http = httpx.Client(base_url=base, timeout=10)
    engine = make_engine(postgres_url)

    # -- three doors, three reporters ---------------------------------------------------
    phone = http.post(
        "/api/v1/reports",
        json={
            "category": "manhole_cover",
            "description": secret_text(0),
            "location": {"lat": 39.9021, "lon": 116.3822},
            "reporter": {"name": NAMES[0], "phone": PHONES[0]},
        },
        headers={**phone_worker, "Idempotency-Key": "public-e2e-1"},
    )
    assert phone.status_code == 202, phone.text
    phone_report = phone.json()["report_id"]

    form = {
        "api_key": api_key,
        "service_code": "garbage",
        "address_id": "990101002001002",
        "description": secret_text(1),
        "first_name": NAMES[1][1:],
        "last_name": NAMES[1][0],
        "phone": PHONES[1],
    }
    posted = http.post(
        "/open311/v2/requests.json",
        content=urlencode(form),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert posted.status_code == 200, posted.text
    open311_report = posted.json()[0]["token"]

    event = {
        "specversion": "1.0",
        "id": f"hotline-{uuid.uuid4()}",
        "source": HOTLINE,
        "type": REPORT_SUBMITTED,
        "datacontenttype": "application/json",
        "data": {
            "category": "road_damage",
            "description": secret_text(2),
            "grid_code": "990101003001003",
            "reporter": {"name": NAMES[2], "phone": PHONES[2]},
        },
    }
    sent = http.post(
        "/api/v1/events",
        content=orjson.dumps(event),
        headers={**hotline, "content-type": "application/cloudevents+json"},
    )
    assert sent.status_code == 202, sent.text
    hotline_report = derived_report_id(
        Envelope(id=event["id"], source=HOTLINE, type=REPORT_SUBMITTED)
    )

    def links() -> dict[str, str] | None:
        with engine.connect() as conn:
            rows = conn.execute(
                select(inbox.c.recipient, inbox.c.data).where(
                    inbox.c.event_type == "org.gridhub.feedback.link"
                )
            ).all()
        found = {str(r.recipient).removeprefix("contact:"): str(r.data["link"]) for r in rows}
        return found if len(found) == 3 else None

    by_report = wait_until(links, WAIT, "a feedback link for each of the three reports")
    assert set(by_report) == {phone_report, open311_report, hotline_report}
    link = by_report[phone_report]
    assert link.startswith("/f/")

    # -- the phone report's case, handled to the end --------------------------------------
    def case_of(report_id: str) -> str | None:
        answer = http.get(f"/api/v1/reports/{report_id}", headers=operator)
        return answer.json().get("case_id") if answer.status_code == 200 else None

    case_id = wait_until(lambda: case_of(phone_report), WAIT, "the phone report's case")
    status = http.get(f"/api/v1/feedback/{link.removeprefix('/f/')}").json()
    assert status["state"] == "dispatched" and status["rateable"] is False
    assert status["status"]["zh"] == "已派给责任部门"

    def act(headers: dict[str, str], body: dict[str, Any]) -> None:
        answer = http.post(f"/api/v1/cases/{case_id}/actions", json=body, headers=headers)
        assert answer.status_code in (200, 202), answer.text

    def state_is(state: str) -> bool:
        return http.get(f"/api/v1/cases/{case_id}", headers=operator).json()["state"] == state

    act(shizheng, {"action": "accept"})
    wait_until(lambda: state_is("in_progress"), WAIT, "accepted")
    act(shizheng, {"action": "resolve", "note": "已更换井盖"})
    wait_until(lambda: state_is("resolved"), WAIT, "resolved")
    act(phone_worker, {"action": "verify", "passed": True, "note": "现场核查通过"})
    wait_until(lambda: state_is("closed"), WAIT, "closed")

    page = http.get(link)
    assert page.status_code == 200 and page.headers["referrer-policy"] == "no-referrer"
    token = link.removeprefix("/f/")
    status = http.get(f"/api/v1/feedback/{token}").json()
    assert status["state"] == "closed" and status["rateable"] is True
    rated = http.post(f"/api/v1/feedback/{token}", json={"score": 1, "comment": "井盖还在晃"})
    assert rated.status_code == 202 and rated.json()["low"] is True
    assert http.post(f"/api/v1/feedback/{token}", json={"score": 5}).status_code == 409

    def rated_event() -> dict[str, Any] | None:
        case = http.get(f"/api/v1/cases/{case_id}", headers=operator).json()
        return next((e for e in case["timeline"] if e["type"] == "rated"), None)

    event_rated = wait_until(rated_event, WAIT, "the rating on the case's timeline")
    assert event_rated["actor"] == f"reporter:{phone_report}"
    assert event_rated["data"]["score"] == 1

    def unsatisfied() -> list[dict[str, Any]]:
        items = http.get("/api/v1/me/inbox", headers=operator).json()["items"]
        return [i for i in items if i["event_type"] == "org.gridhub.feedback.unsatisfied"]

    (item,) = wait_until(unsatisfied, WAIT, "the duty office's 回访不满意 item")
    assert item["case_id"] == case_id and item["data"]["suggested_action"] == "reopen"

    # The channels: each reporter got the link by SMS on the phone they left, and
    # the duty office's mailbox has the 回访不满意 item.
    texts_by_phone = wait_until(
        lambda: {m["phone"]: m["text"] for m in sms.received} if len(sms.received) >= 3 else None,
        WAIT,
        "three SMS with feedback links",
    )
    assert sms.problems == [] and set(texts_by_phone) == set(PHONES)
    assert texts_by_phone[PHONES[0]].endswith(link)
    mail = wait_until(
        lambda: [m for m in mailbox.messages if m["Subject"].startswith("回访不满意")],
        WAIT,
        "the 回访不满意 e-mail to the duty office",
    )
    assert mail[0]["To"] == "duty-office@district.invalid" and case_id in mail[0]["Subject"]

    today = datetime.now(UTC).date().isoformat()
    cards = http.get("/api/v1/public/scorecards", params={"period": "month", "date": today})
    (dept,) = [c for c in cards.json()["departments"] if c["key"] == "shizheng"]
    assert dept["mean_satisfaction"] == 1.0 and dept["closed"] == 1

    # -- every public response, scanned ------------------------------------------------------
    wait_until(lambda: case_of(open311_report), WAIT, "the Open311 report's case")
    texts: dict[str, str] = {}
    for path in ("names", "scorecards", "counts", "stories"):
        for period in ("week", "month", "quarter"):
            answer = http.get(f"/api/v1/public/{path}", params={"period": period})
            assert answer.status_code == 200, answer.text
            texts[f"{path}?{period}"] = answer.text
    texts["/public/"] = http.get("/public/").text
    bulletin = http.get("/api/v1/public/bulletin.pdf")
    assert bulletin.status_code == 200
    texts["bulletin.pdf"] = pdf_text(bulletin.content)
    assert "公开月报" in texts["bulletin.pdf"]
    for fmt in ("json", "xml"):
        texts[f"requests.{fmt}"] = http.get(f"/open311/v2/requests.{fmt}").text
        texts[f"services.{fmt}"] = http.get(f"/open311/v2/services.{fmt}").text
        texts[f"request.{fmt}"] = http.get(f"/open311/v2/requests/{case_id}.{fmt}").text
        texts[f"token.{fmt}"] = http.get(f"/open311/v2/tokens/{open311_report}.{fmt}").text
    assert case_id in texts["requests.json"]
    for report_id, each in by_report.items():
        texts[f"link:{report_id}"] = http.get(each).text
        texts[f"feedback:{report_id}"] = http.get(f"/api/v1/feedback/{each[3:]}").text
    secrets = (*NAMES, *PHONES, *ID_NUMBERS, "井盖还在晃")
    leaks = {
        where: personal_data_in(text, NAMES) + [s for s in secrets if s in text]
        for where, text in texts.items()
    }
    assert {where: found for where, found in leaks.items() if found} == {}
    assert len(texts) == 28  # 12 public JSON, page, PDF, 8 Open311, 3 links x 2
    # ...while the people who need them still see them.
    detail = http.get(f"/api/v1/cases/{case_id}", headers=operator).json()
    assert detail["reports"][0]["reporter"] == {"name": NAMES[0], "phone": PHONES[0]}
    engine.dispose()
