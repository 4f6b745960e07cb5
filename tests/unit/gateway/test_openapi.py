"""The OpenAPI document is complete: every route, a success and its errors for each,
the bearer scheme on every route that needs a token, the request bodies the
routes read themselves (CloudEvents, CAP XML, Open311 forms) and both Open311 formats."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.deps import GatewayDeps
from gateway.routes import ROUTERS

OPEN311 = "/open311/v2"


@pytest.fixture
def app(deps: GatewayDeps) -> FastAPI:
    return create_app(deps)


@pytest.fixture
def doc(app: FastAPI) -> dict[str, Any]:
    with TestClient(app) as client:
        response = client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, ops in doc["paths"].items() for method, op in ops.items()]


def router_routes() -> set[tuple[str, str]]:
    """Every route of every router the app includes (``gateway.routes.ROUTERS``)."""
    found = set()
    for router in ROUTERS:
        for route in router.routes:
            if isinstance(route, APIRoute) and route.include_in_schema:
                found |= {(route.path, method.lower()) for method in route.methods}
    return found


def test_every_route_is_documented(doc: dict[str, Any]) -> None:
    routes = router_routes()
    documented = {(path, method) for path, method, _ in operations(doc)}
    assert routes == documented
    for path in ("/api/v1/events", "/api/v1/cap", "/api/v1/admin/webhooks"):
        assert path in doc["paths"]
    assert {p for p in doc["paths"] if p.startswith(OPEN311)} == {
        f"{OPEN311}/discovery.{{format}}",
        f"{OPEN311}/services.{{format}}",
        f"{OPEN311}/services/{{service_code}}.{{format}}",
        f"{OPEN311}/requests.{{format}}",
        f"{OPEN311}/requests/{{service_request_id}}.{{format}}",
        f"{OPEN311}/tokens/{{token}}.{{format}}",
    }


def test_every_operation_has_a_summary_a_success_and_its_errors(doc: dict[str, Any]) -> None:
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["bearer"]["description"],
    }
    for path, method, op in operations(doc):
        where = f"{method.upper()} {path}"
        assert op.get("summary"), where
        statuses = set(op["responses"])
        assert any(s.startswith("2") for s in statuses), where
        if "security" in op:
            assert op["security"] == [{"bearer": []}], where
            assert {"401", "403"} <= statuses, where
        if op.get("parameters") or op.get("requestBody"):
            assert statuses & {"400", "422", "4XX"}, where


def test_public_routes_need_no_token(doc: dict[str, Any]) -> None:
    public = {p for p, _, op in operations(doc) if "security" not in op}
    assert {p for p in doc["paths"] if p.startswith(OPEN311)} <= public
    for path in ("/api/v1/events", "/api/v1/cap", "/api/v1/admin/webhooks"):
        assert path not in public


def test_bodies_the_routes_read_themselves(doc: dict[str, Any]) -> None:
    events = doc["paths"]["/api/v1/events"]["post"]
    assert set(events["requestBody"]["content"]) == {
        "application/cloudevents+json",
        "application/cloudevents-batch+json",
        "application/json",
        "application/cap+xml",
    }
    structured = events["requestBody"]["content"]["application/cloudevents+json"]["schema"]
    assert set(structured["required"]) == {"specversion", "id", "source", "type"}
    assert {"200", "202", "207", "400", "413", "415", "422", "503"} <= set(events["responses"])
    headers = {p["name"] for p in events["parameters"] if p["in"] == "header"}
    assert {"ce-specversion", "ce-id", "ce-source", "ce-type"} <= headers

    cap = doc["paths"]["/api/v1/cap"]["post"]
    assert set(cap["requestBody"]["content"]) == {
        "application/cap+xml",
        "application/xml",
        "text/xml",
    }
    form = doc["paths"][f"{OPEN311}/requests.{{format}}"]["post"]["requestBody"]["content"]
    fields = form["application/x-www-form-urlencoded"]["schema"]
    assert {"api_key", "service_code", "lat", "long", "address_string", "description"} <= set(
        fields["properties"]
    )
    assert fields["required"] == ["api_key", "service_code"]


def test_open311_answers_json_and_xml(doc: dict[str, Any]) -> None:
    for path, _, op in operations(doc):
        if path.startswith(OPEN311):
            assert set(op["responses"]["200"]["content"]) == {"application/json", "text/xml"}
            assert {"400", "4XX"} <= set(op["responses"])
            assert "422" not in op["responses"]  # invalid arguments are Open311 400s
            fmt = next(p for p in op["parameters"] if p["name"] == "format")
            assert fmt["in"] == "path"
