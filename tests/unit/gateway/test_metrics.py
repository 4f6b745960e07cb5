"""The gateway's /metrics (request counts by route template and status, on an
injected registry) and the W3C trace context it puts on published CloudEvents."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, generate_latest

from gateway.app import create_app
from gateway.deps import GatewayDeps
from gateway.metrics import GatewayMetrics, process_registry, request_traceparent, serve_metrics
from gateway.publisher import InMemoryPublisher
from gridhub.local.processes import free_port
from schemas import trace
from schemas.reports import Report
from tests.support.gateway import TokenFactory, report_body

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
INCOMING = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def observed(deps: GatewayDeps, registry: CollectorRegistry) -> Iterator[TestClient]:
    with TestClient(create_app(deps, registry=registry)) as test_client:
        yield test_client


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def test_requests_are_counted_by_route_template_and_status(
    observed: TestClient, registry: CollectorRegistry, auth: TokenFactory
) -> None:
    headers = auth("operator")
    observed.get("/healthz")
    observed.get("/api/v1/cases/990101001001-doesnotexist", headers=headers)
    observed.get("/api/v1/cases/990101001001-another", headers=headers)
    observed.get("/no/such/page")
    route = {"method": "GET", "route": "/api/v1/cases/{case_id}"}
    assert sample(registry, "gridhub_http_requests_total", status="404", **route) == 2
    assert sample(registry, "gridhub_http_request_seconds_count", **route) == 2
    health = {"method": "GET", "route": "/healthz", "status": "200"}
    assert sample(registry, "gridhub_http_requests_total", **health) == 1
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert sample(registry, "gridhub_http_requests_total", **unmatched) == 1
    assert sample(registry, "gridhub_http_requests_in_flight") == 0


def test_metrics_are_served_on_their_own_port_not_the_api_port(
    observed: TestClient, registry: CollectorRegistry
) -> None:
    observed.get("/healthz")
    assert observed.get("/metrics").status_code == 404  # not on the API port
    assert "/metrics" not in observed.get("/openapi.json").json()["paths"]
    port = free_port()
    stop = serve_metrics(registry, "127.0.0.1", port)
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    finally:
        stop()
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert 'gridhub_http_requests_total{method="GET",route="/healthz",status="200"}' in (
        response.text
    )


def test_default_registry_carries_process_metrics() -> None:
    text = generate_latest(process_registry()).decode()
    assert "process_cpu_seconds_total" in text or "python_info" in text  # no /proc: python_info


def test_a_report_continues_the_callers_trace(
    observed: TestClient, auth: TokenFactory, publisher: InMemoryPublisher
) -> None:
    response = observed.post(
        "/api/v1/reports",
        json=report_body(),
        headers={**auth("grid_worker"), "traceparent": INCOMING},
    )
    assert response.status_code == 202, response.text
    [record] = publisher.records
    report = Report.model_validate_json(record.value)
    assert report.attributes[trace.TRACE_ID_ATTRIBUTE] == TRACE_ID


def test_a_report_without_a_traceparent_starts_a_trace(
    observed: TestClient, auth: TokenFactory, publisher: InMemoryPublisher
) -> None:
    for header in ({}, {"traceparent": "garbage"}):
        observed.post(
            "/api/v1/reports", json=report_body(), headers={**auth("grid_worker"), **header}
        )
    ids = [
        Report.model_validate_json(r.value).attributes.get(trace.TRACE_ID_ATTRIBUTE)
        for r in publisher.records
    ]
    assert all(ids) and ids[0] != ids[1]


def test_logs_within_a_request_carry_its_trace_id(observed: TestClient) -> None:
    seen: list[str | None] = []

    @observed.app.get("/test-only/log")  # type: ignore[attr-defined]
    def log_something() -> dict[str, str]:
        seen.append(trace.current().trace_id)
        return {"traceparent": request_traceparent()}

    body = observed.get("/test-only/log", headers={"traceparent": INCOMING}).json()
    assert seen == [TRACE_ID]
    assert trace.parse_traceparent(body["traceparent"]) == TRACE_ID
    assert trace.current() == trace.EMPTY  # nothing leaks out of the request


def test_bundle_names_follow_the_prefix() -> None:
    metrics = GatewayMetrics.create(CollectorRegistry(), prefix="tenant-a")
    metrics.requests.labels("GET", "/x", "200").inc()
    assert metrics.registry.get_sample_value(
        "tenant_a_http_requests_total", {"method": "GET", "route": "/x", "status": "200"}
    )


def test_traceparent_rules() -> None:
    assert trace.parse_traceparent(INCOMING.upper()) == TRACE_ID
    assert trace.parse_traceparent(f"00-{'0' * 32}-00f067aa0ba902b7-01") is None
    assert trace.parse_traceparent(f"ff-{TRACE_ID}-00f067aa0ba902b7-01") is None
    assert trace.parse_traceparent(f"00-{TRACE_ID}-{'0' * 16}-01") is None
    assert trace.parse_traceparent(None) is None
    made = trace.ensure_traceparent(INCOMING)
    assert made.startswith(f"00-{TRACE_ID}-") and made.endswith("-01")
