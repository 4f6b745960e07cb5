"""End to end: a worker and a gateway on the real broker expose health, readiness
and Prometheus metrics, and one trace id follows a report from the HTTP request
into the worker's JSON logs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from sinks.db import upgrade
from tests.fixtures.worker import wait_http, wait_until
from tests.support.cli import cli_token

pytestmark = [pytest.mark.e2e, pytest.mark.kafka]

TRACE_ID = "5d1f0e7a2b3c4d5e6f708192a3b4c5d6"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


def sample(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        match = re.match(rf"^{name}(?:\{{(.*)\}})? (\S+)$", line)
        if match is None:
            continue
        have = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or ""))
        if labels.items() <= have.items():
            total += float(match.group(2))
    return total


def json_lines(path: Path) -> list[dict[str, object]]:
    out = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out


def test_metrics_health_and_one_trace_from_http_to_the_worker(hub_env, running, tmp_path):
    db_url = f"sqlite:///{tmp_path / 'observed.db'}"
    env = hub_env(db_url)
    upgrade(db_url)
    env.env["GRIDHUB_LOG_FORMAT"] = "json"
    reporter = cli_token(env.env, "grid_worker", "obs-worker")
    operator = cli_token(env.env, "operator", "obs-operator")
    worker = env.spawn("worker")
    running.append(worker)
    gateway = env.spawn("gateway")
    running.append(gateway)
    base = f"http://127.0.0.1:{env.env['GRIDHUB_GATEWAY_PORT']}"
    # The worker's health and metrics on their own port; Faust's web port (its
    # table views) is on loopback with those views off.
    worker_base = f"http://127.0.0.1:{env.env['GRIDHUB_WORKER_METRICS_PORT']}"
    metrics_base = f"http://127.0.0.1:{env.env['GRIDHUB_METRICS_PORT']}"
    wait_http(f"{base}/readyz", timeout=60)
    wait_http(f"{worker_base}/readyz", timeout=90)  # the worker holds partitions
    assert httpx.get(f"{worker_base}/healthz").json() == {"status": "ok"}

    report = {
        "category": "gas_smell",
        "description": "楼道里有很重的燃气味",
        "location": {"lat": 39.9035, "lon": 116.3835},
    }
    headers = {"Authorization": f"Bearer {reporter}", "traceparent": TRACEPARENT}
    with httpx.Client(base_url=base, timeout=10) as http:
        accepted = http.post("/api/v1/reports", json=report, headers=headers)
        assert accepted.status_code == 202, accepted.text
        report_id = accepted.json()["report_id"]

        def case_id() -> str | None:
            auth = {"Authorization": f"Bearer {operator}"}
            resp = http.get(f"/api/v1/reports/{report_id}", headers=auth)
            return resp.json().get("case_id") if resp.status_code == 200 else None

        cid = wait_until(case_id, 30, "the report to become a case", interval=0.2)
        assert http.get("/metrics").status_code == 404  # not on the API port
        gateway_metrics = httpx.get(f"{metrics_base}/metrics").text

    reports_route = {"route": "/api/v1/reports", "method": "POST", "status": "202"}
    assert sample(gateway_metrics, "gridhub_http_requests_total", **reports_route) == 1

    def worker_metrics() -> str | None:
        text = httpx.get(f"{worker_base}/metrics").text
        # The case census and the lag are refreshed by 15 s timers.
        ready = sample(text, "gridhub_cases", priority="P1") >= 1
        return text if ready and "gridhub_consumer_lag{" in text else None

    text = wait_until(worker_metrics, 40, "the worker's case census and lag", interval=1)
    # The gateway publishes its reports placed, straight to the case agent's input.
    reports_in = {"stage": "case", "topic": env.topics.reports}
    assert sample(text, "gridhub_events_in_total", **reports_in) >= 1
    assert sample(text, "gridhub_case_events_total", type="opened") >= 1
    assert sample(text, "gridhub_report_to_case_seconds_count", outcome="opened") >= 1
    assert sample(text, "gridhub_db_write_batch_size_count") >= 1
    assert sample(text, "gridhub_consumer_assigned_partitions") >= 1
    assert sample(text, "process_resident_memory_bytes") > 0

    # The P1 report-up logs its alert while handling the case's first event,
    # which carries the report: the HTTP request's trace id is on that line.
    def traced() -> list[dict[str, object]]:
        return [line for line in json_lines(worker.log_path) if line.get("trace_id") == TRACE_ID]

    lines = wait_until(traced, 20, "a worker log line with the request's trace id")
    assert {line["case_id"] for line in lines} == {cid}
    assert all(line["service"] == "gridhub-worker" for line in lines)
    assert json_lines(gateway.log_path), "the gateway logs JSON too"
