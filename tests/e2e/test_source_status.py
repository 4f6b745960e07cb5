"""End to end on the real broker and PostgreSQL: status back to 数字城管 in a form
it can file. A 数字城管 case comes in over Kafka, is dispatched (by the routing
rules), resolved and closed; a local receiver subscribed for that source gets
every change in order, each with the platform's own case number, its own status
code from the district's table, the department and the case version."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import httpx
import orjson
import pytest
from kafka import KafkaProducer

from schemas.envelope import CITYMGMT_CASE
from sinks.db import upgrade
from sinks.webhooks import settings_secret, verify
from streams.logic.intake import citymgmt_report_id
from tests.fixtures.receiver import Behaviour, Receiver, receiver_fixture  # noqa: F401
from tests.fixtures.worker import wait_http, wait_until
from tests.support.cli import cli_token

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]

CITYMGMT = "urn:system:citymgmt"
SECRET = "e2e-webhook-secret"
WAIT = 45.0


def test_citymgmt_hears_every_status_of_its_case_in_order(
    hub_env, postgres_url, running, receiver: Receiver
):
    url = receiver.url("/citymgmt", Behaviour(fail_first=1, fail_status=503))
    env = hub_env(postgres_url)
    env.env["GRIDHUB_WEBHOOK_SECRET"] = SECRET
    pattern = f"system:{CITYMGMT}"
    env.env["GRIDHUB_WEBHOOK_SUBSCRIPTIONS"] = json.dumps({pattern: url})
    upgrade(postgres_url)
    operator = {"Authorization": f"Bearer {cli_token(env.env, 'operator', 'e2e-op')}"}
    shizheng = {"Authorization": f"Bearer {cli_token(env.env, 'department', 'sz', 'shizheng')}"}
    running.append(env.spawn("worker"))
    running.append(env.spawn("gateway"))
    base = f"http://127.0.0.1:{env.env['GRIDHUB_GATEWAY_PORT']}"
    wait_http(f"{base}/readyz", timeout=60)
    http = httpx.Client(base_url=base, timeout=10)

    number = f"CG{uuid.uuid4().hex[:10].upper()}"
    event = {
        "specversion": "1.0",
        "id": f"cg-{number}",
        "source": CITYMGMT,
        "type": CITYMGMT_CASE,
        "datacontenttype": "application/json",
        "time": datetime.now(UTC).isoformat(),
        "data": {
            "case_number": number,
            "category_code": "0103",
            "kind": "component",
            "description": "雨水井盖破损",
            "grid_code": "990101001002002",
            "occurred_at": datetime.now(UTC).isoformat(),
        },
    }
    producer = KafkaProducer(bootstrap_servers=env.env["GRIDHUB_KAFKA_BOOTSTRAP"], acks="all")
    try:
        producer.send(
            env.topics.intake,
            value=orjson.dumps(event),
            key=CITYMGMT.encode(),
            headers=[("content-type", b"application/cloudevents+json")],
        ).get(timeout=10)
    finally:
        producer.close()

    def case_id() -> str | None:
        answer = http.get(
            f"/api/v1/reports/{citymgmt_report_id(CITYMGMT, number)}", headers=operator
        )
        return answer.json().get("case_id") if answer.status_code == 200 else None

    cid = wait_until(case_id, WAIT, "the 数字城管 case")

    def state_is(state: str) -> bool:
        return http.get(f"/api/v1/cases/{cid}", headers=operator).json()["state"] == state

    wait_until(lambda: state_is("dispatched"), WAIT, "dispatched by the routing rules")
    act = http.post(
        f"/api/v1/cases/{cid}/actions",
        json={"action": "resolve", "note": "已更换"},
        headers=shizheng,
    )
    assert act.status_code in (200, 202), act.text
    wait_until(lambda: state_is("resolved"), WAIT, "resolved")
    act = http.post(
        f"/api/v1/cases/{cid}/actions", json={"action": "verify", "passed": True}, headers=operator
    )
    assert act.status_code in (200, 202), act.text
    wait_until(lambda: state_is("closed"), WAIT, "closed")
    timeline = http.get(f"/api/v1/cases/{cid}", headers=operator).json()["timeline"]

    def delivered() -> list | None:
        got = receiver.delivered("/citymgmt")
        return got if len(got) >= len(timeline) else None

    got = wait_until(delivered, WAIT, "every change of the case at the platform's receiver")
    bodies = [orjson.loads(r.body) for r in got]
    own_secret = settings_secret(SECRET, pattern)  # this receiver's, not the others'
    for r in got:
        verify(own_secret, r.body, r.headers)  # Standard Webhooks: raises if not signed
    assert [b["data"]["version"] for b in bodies] == [e["version"] for e in timeline]
    assert {b["data"]["external_ref"] for b in bodies} == {number}
    codes = [b["data"]["source_status"]["code"] for b in bodies]
    assert codes[0] == "10" and codes[-1] == "50" and "20" in codes and "40" in codes
    assert codes == sorted(codes)  # never backwards: 立案 → 派遣 → 处置完毕 → 结案
    assert bodies[-1]["data"]["source_status"]["name"] == "结案"
    assert {b["data"]["department"] for b in bodies[1:]} == {"shizheng"}
    assert receiver.at("/citymgmt")[0].status == 503  # the first try failed and was retried
