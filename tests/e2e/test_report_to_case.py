"""End to end: gateway and worker processes on the real broker and PostgreSQL.
An HTTP report becomes a case visible through the API within a few seconds."""

from __future__ import annotations

import time

import httpx
import pytest

from sinks.db import upgrade
from tests.fixtures.worker import wait_http, wait_until
from tests.support.cli import cli_token

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]


def test_http_report_becomes_case_on_postgres(hub_env, postgres_url, running):
    env = hub_env(postgres_url)
    upgrade(postgres_url)
    worker_token = cli_token(env.env, "grid_worker", "e2e-worker")
    operator_token = cli_token(env.env, "operator", "e2e-operator")
    running.append(env.spawn("worker"))
    running.append(env.spawn("gateway"))
    base = f"http://127.0.0.1:{env.env['GRIDHUB_GATEWAY_PORT']}"
    wait_http(f"{base}/readyz", timeout=60)

    report = {
        "category": "manhole_cover",
        "description": "井盖缺失，行人有危险",
        "location": {"lat": 39.9035, "lon": 116.3835},
        "reporter": {"name": "张三", "phone": "13800000000"},
    }
    worker = {"Authorization": f"Bearer {worker_token}", "Idempotency-Key": "phone-42"}
    operator = {"Authorization": f"Bearer {operator_token}"}
    with httpx.Client(base_url=base, timeout=10) as http:
        assert http.post("/api/v1/reports", json=report).status_code == 401
        assert http.post("/api/v1/reports", json=report, headers=operator).status_code == 403
        bad = http.post("/api/v1/reports", json={**report, "category": 7}, headers=worker)
        assert bad.status_code == 422
        assert "category" in bad.text

        sent = time.monotonic()
        accepted = http.post("/api/v1/reports", json=report, headers=worker)
        assert accepted.status_code == 202, accepted.text
        report_id = accepted.json()["report_id"]
        assert accepted.json()["status_url"].endswith(report_id)
        retry = http.post("/api/v1/reports", json=report, headers=worker)
        assert retry.status_code == 202
        assert retry.json()["report_id"] == report_id

        def case_id() -> str | None:
            resp = http.get(f"/api/v1/reports/{report_id}", headers=operator)
            return resp.json().get("case_id") if resp.status_code == 200 else None

        cid = wait_until(case_id, 30, "the report to join a case", interval=0.1)
        visible_after = time.monotonic() - sent
        case = http.get(f"/api/v1/cases/{cid}", headers=operator).json()

        assert visible_after < 10, f"case visible only after {visible_after:.1f}s"
        assert case["category"] == "manhole_cover"
        assert case["state"] == "dispatched"
        assert case["lead_department"]
        assert case["resolve_by"] and case["respond_by"]
        assert case["report_count"] == 1
        assert [r["id"] for r in case["reports"]] == [report_id]
        assert [t["type"] for t in case["timeline"]] == ["opened", "dispatched"]
        assert case["grid_code"].startswith("990101")

        listed = http.get("/api/v1/cases", headers=operator).json()
        assert [item["id"] for item in listed["items"]] == [cid]
        assert http.get("/api/v1/cases", headers=worker).status_code == 403
        assert http.get("/api/v1/cases").status_code == 401
