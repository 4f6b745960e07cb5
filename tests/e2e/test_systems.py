"""End to end, other systems' doors: real ``gridhub worker`` and ``gridhub gateway``
processes on the real broker and PostgreSQL.

- CloudEvents made with the official ``cloudevents`` SDK, over HTTP (binary,
  structured, a batch) and over Kafka (binary and structured), become cases;
- CAP 1.2 Alert, Update and Cancel over ``/api/v1/cap``: the alert opens a case,
  the update joins it, the cancel rejects it with the sender's note as the reason;
- an Open311 ``POST requests`` becomes a case that ``GET requests/{id}`` reports.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
import httpx
import orjson
import pytest
from cloudevents.core.bindings import http as ce_http
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from kafka import KafkaProducer

from schemas.envelope import (
    BATCH_CONTENT_TYPE,
    CAP_ALERT,
    CITYMGMT_CASE,
    REPORT_SUBMITTED,
    SENSOR_ALARM,
    Envelope,
)
from sinks.db import upgrade
from streams.logic.intake import citymgmt_report_id, derived_report_id
from tests.fixtures.worker import HubEnv, wait_http, wait_until
from tests.support.cap_samples import ALERT_XML, CANCEL_XML, CAP_SENDERS, UPDATE_XML
from tests.support.cli import cli_token

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]

CITYMGMT = "urn:system:citymgmt"
IOT = "urn:system:iot"
YINGJI = "urn:system:yingji"
HOTLINE = "urn:system:12345"
NOW = datetime.now(UTC).replace(microsecond=0)
WAIT = 45.0


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Hub:
    """The running gateway, seen by an operator."""

    def __init__(self, env: HubEnv, running: list[Any]) -> None:
        self.env = env
        upgrade(env.db_url)
        self.operator = bearer(cli_token(env.env, "operator", "e2e-operator"))
        running.append(env.spawn("worker"))
        running.append(env.spawn("gateway"))
        self.base = f"http://127.0.0.1:{env.env['GRIDHUB_GATEWAY_PORT']}"
        wait_http(f"{self.base}/readyz", timeout=60)
        self.http = httpx.Client(base_url=self.base, timeout=10)

    def case_of(self, report_id: str, what: str) -> dict[str, Any]:
        def found() -> str | None:
            response = self.http.get(f"/api/v1/reports/{report_id}", headers=self.operator)
            return response.json().get("case_id") if response.status_code == 200 else None

        case_id = wait_until(found, WAIT, what, interval=0.2)
        return self.case(case_id)

    def case(self, case_id: str) -> dict[str, Any]:
        response = self.http.get(f"/api/v1/cases/{case_id}", headers=self.operator)
        assert response.status_code == 200, response.text
        case: dict[str, Any] = response.json()
        return case

    def case_until(
        self, case_id: str, check: Callable[[dict[str, Any]], bool], what: str
    ) -> dict[str, Any]:
        def ready() -> dict[str, Any] | None:
            case = self.case(case_id)
            return case if check(case) else None

        result: dict[str, Any] = wait_until(ready, WAIT, what, interval=0.2)
        return result


def sdk_event(source: str, type_: str, data: Any, event_id: str | None = None) -> CloudEvent:
    return CloudEvent(
        {
            "id": event_id or str(uuid.uuid4()),
            "source": source,
            "type": type_,
            "time": NOW,
            "datacontenttype": "application/json",
        },
        data,
    )


def report(category: str, grid_code: str, text: str) -> dict[str, Any]:
    return {
        "category": category,
        "description": text,
        "grid_code": grid_code,
        "report_id": str(uuid.uuid4()),
    }


def sensor(device: str, grid_code: str) -> dict[str, Any]:
    return {
        "device_id": device,
        "metric": "gas_ppm",
        "reading": 180,
        "threshold": 50,
        "unit": "ppm",
        "grid_code": grid_code,
        "occurred_at": NOW.isoformat(),
    }


def sensor_report_id(event: CloudEvent) -> str:
    envelope = Envelope(id=event.get_id(), source=event.get_source(), type=event.get_type())
    return derived_report_id(envelope)


def test_cloudevents_over_http_and_kafka_become_cases(hub_env, postgres_url, running):
    env = hub_env(postgres_url)
    hub = Hub(env, running)
    citymgmt = bearer(cli_token(env.env, "system", "数字城管平台", CITYMGMT))
    http = hub.http

    # HTTP, binary mode: a generic report.
    garbage = report("garbage", "990101001001001", "垃圾桶满溢，异味明显")
    message = ce_http.to_binary(sdk_event(CITYMGMT, REPORT_SUBMITTED, garbage), JSONFormat())
    sent = http.post(
        "/api/v1/events", content=message.body, headers={**message.headers, **citymgmt}
    )
    assert sent.status_code == 202, sent.text

    # HTTP, structured mode: a 数字城管 case with its own case number.
    number = f"CG{uuid.uuid4().hex[:10].upper()}"
    manhole = {
        "case_number": number,
        "category_code": "0103",
        "kind": "component",
        "description": "雨水井盖破损",
        "grid_code": "990101001002002",
        "occurred_at": NOW.isoformat(),
    }
    message = ce_http.to_structured(sdk_event(CITYMGMT, CITYMGMT_CASE, manhole), JSONFormat())
    sent = http.post(
        "/api/v1/events", content=message.body, headers={**message.headers, **citymgmt}
    )
    assert sent.status_code == 202, sent.text

    # HTTP, a batch: three reports, and one the gateway refuses (unknown category).
    batch_reports = [
        report("noise", "990101002001001", "夜间施工噪声扰民"),
        report("street_light", "990101002002003", "路灯不亮"),
        report("water_leak", "990101003001002", "供水管道漏水"),
    ]
    docs = [
        orjson.loads(JSONFormat().write(sdk_event(CITYMGMT, REPORT_SUBMITTED, data)))
        for data in batch_reports
    ]
    docs.append({**docs[0], "id": "refused", "data": {**batch_reports[0], "category": "ufo"}})
    sent = http.post(
        "/api/v1/events",
        content=orjson.dumps(docs),
        headers={"content-type": BATCH_CONTENT_TYPE, **citymgmt},
    )
    assert sent.status_code == 207, sent.text
    assert [r["status"] for r in sent.json()] == [202, 202, 202, 422]

    # Kafka directly, both modes of the SDK's Kafka binding.
    producer = KafkaProducer(bootstrap_servers=env.env["GRIDHUB_KAFKA_BOOTSTRAP"], acks="all")
    kafka_events = {
        "binary": sdk_event(IOT, SENSOR_ALARM, sensor("gas-e2e-1", "990101003002004")),
        "structured": sdk_event(IOT, SENSOR_ALARM, sensor("gas-e2e-2", "990101002002001")),
    }
    try:
        for mode, event in kafka_events.items():
            convert = ce_kafka.to_binary if mode == "binary" else ce_kafka.to_structured
            record = convert(event, JSONFormat())
            key = record.key.encode() if isinstance(record.key, str) else record.key
            producer.send(
                env.topics.intake,
                value=record.value,
                key=key or IOT.encode(),
                headers=list(record.headers.items()),
            ).get(timeout=10)
    finally:
        producer.close()

    case = hub.case_of(garbage["report_id"], "the binary-mode HTTP event's case")
    assert case["category"] == "garbage" and case["grid_code"] == "990101001001001"
    assert case["reports"][0]["source"] == CITYMGMT
    profile = hub.http.get("/api/v1/me/profile", headers=citymgmt).json()
    assert case["reports"][0]["submitted_by"] == profile["principal_id"]  # the id, not a name

    case = hub.case_of(citymgmt_report_id(CITYMGMT, number), "the structured-mode 数字城管 case")
    assert case["category"] == "manhole_cover" and case["external_ref"] == number

    for data in batch_reports:
        case = hub.case_of(data["report_id"], f"the batched {data['category']} case")
        assert case["category"] == data["category"] and case["grid_code"] == data["grid_code"]

    for mode, event in kafka_events.items():
        case = hub.case_of(sensor_report_id(event), f"the {mode}-mode Kafka sensor case")
        assert case["category"] == "gas_smell"
        assert case["reports"][0]["attributes"]["device_id"] == event.get_data()["device_id"]


def test_cap_and_open311(hub_env, postgres_url, running):
    env = hub_env(postgres_url)
    hub = Hub(env, running)
    http = hub.http
    yingji = {
        **bearer(cli_token(env.env, "system", "应急中心", YINGJI, cap_senders=CAP_SENDERS)),
        "content-type": "application/cap+xml",
    }

    def cap_report(identifier: str) -> str:
        return derived_report_id(Envelope(id=identifier, source=YINGJI, type=CAP_ALERT))

    # CAP Alert: a case is opened.
    sent = http.post("/api/v1/cap", content=ALERT_XML.encode(), headers=yingji)
    assert sent.status_code == 202, sent.text
    case = hub.case_of(cap_report("YJ-2026-0815-001"), "the CAP alert's case")
    assert case["external_ref"] == "YJ-2026-0815-001"
    assert case["category"] == "flooding" and case["state"] in ("open", "dispatched")
    # CAP Update: follows its reference into the same case.
    sent = http.post("/api/v1/cap", content=UPDATE_XML.encode(), headers=yingji)
    assert sent.status_code == 202, sent.text
    updated = hub.case_until(case["id"], lambda c: c["report_count"] == 2, "the CAP update")
    assert cap_report("YJ-2026-0815-002") in [r["id"] for r in updated["reports"]]
    # Unsafe XML is refused with the reason, and changes nothing.
    xxe = ALERT_XML.replace(
        "<alert", '<!DOCTYPE alert [<!ENTITY x SYSTEM "file:///etc/passwd">]><alert', 1
    )
    xxe = xxe.replace('<?xml version="1.0" encoding="UTF-8"?>\n', "")
    refused = http.post("/api/v1/cap", content=xxe.encode(), headers=yingji)
    assert refused.status_code == 400 and "DOCTYPE" in refused.json()["detail"]
    # CAP Cancel: the case is rejected with the sender's note as the reason.
    sent = http.post("/api/v1/cap", content=CANCEL_XML.encode(), headers=yingji)
    assert sent.status_code == 202, sent.text
    rejected = hub.case_until(case["id"], lambda c: c["state"] == "rejected", "the CAP cancel")
    assert "降雨结束" in rejected["timeline"][-1]["data"]["reason"]

    # Open311: POST a request with an api_key, follow the token to the case.
    api_key = cli_token(env.env, "system", "12345 热线", HOTLINE)
    form = {
        "api_key": api_key,
        "service_code": "illegal_parking",
        "lat": 39.9122,
        "long": 116.4010,
        "description": "消防通道被占用 fire lane blocked",
        "first_name": "四",
        "last_name": "李",
        "phone": "13900000000",
    }
    posted = http.post(
        "/open311/v2/requests.json",
        content=urlencode(form),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert posted.status_code == 200, posted.text
    [answer] = posted.json()
    token = answer["token"]

    def service_request_id() -> str | None:
        response = http.get(f"/open311/v2/tokens/{token}.json")
        if response.status_code == 404:
            return None
        assert response.status_code == 200, response.text
        [item] = response.json()
        assert item["token"] == token
        return str(item["service_request_id"])

    # Anonymous reads are limited per address: poll gently.
    request_id = wait_until(
        service_request_id, WAIT, "the Open311 token's service_request_id", interval=1.0
    )
    [request] = http.get(f"/open311/v2/requests/{request_id}.json").json()
    assert request["service_request_id"] == request_id
    assert request["service_code"] == "illegal_parking"
    assert request["status"] == "open"
    assert request["description"] is None  # a reporter's text is never public
    assert request["requested_datetime"].endswith("+08:00")
    root: Element = SafeET.fromstring(http.get(f"/open311/v2/requests/{request_id}.xml").content)
    assert root.tag == "service_requests"
    assert root[0].findtext("service_request_id") == request_id
    case = hub.case(request_id)
    assert case["reports"][0]["source"] == HOTLINE
    assert case["reports"][0]["reporter"] == {"name": "李 四", "phone": "13900000000"}
    listed = http.get("/open311/v2/requests.json?service_code=illegal_parking").json()
    assert [r["service_request_id"] for r in listed] == [request_id]
    # The rejected CAP case is a closed request; the sender's reason is free text,
    # which public reads do not carry.
    [cap_request] = http.get(f"/open311/v2/requests/{case_id_of(rejected)}.json").json()
    assert cap_request["status"] == "closed"
    assert cap_request["status_notes"] == "不予立案 (rejected)"
    assert "降雨结束" not in cap_request["status_notes"]


def case_id_of(case: dict[str, Any]) -> str:
    return str(case["id"])
