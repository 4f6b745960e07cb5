from __future__ import annotations

import dataclasses

from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.deps import GatewayDeps
from schemas.export import CONTRACTS
from tests.support.demo_district import GRID
from tests.support.gateway import TokenFactory


def test_health_is_public_and_always_ok(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_ready_once_started_and_the_check_passes(deps: GatewayDeps) -> None:
    state = {"ready": False}
    app = create_app(dataclasses.replace(deps, ready_check=lambda: state["ready"]))
    client = TestClient(app)
    assert client.get("/readyz").status_code == 503  # lifespan not run: publisher not started
    with client:
        assert client.get("/readyz").status_code == 503
        state["ready"] = True
        assert client.get("/readyz").json() == {"status": "ready"}


def test_schema_index_lists_every_contract(client: TestClient) -> None:
    index = client.get("/schemas/").json()["schemas"]
    assert set(index) == set(CONTRACTS)
    schema = client.get(index["report-submission"]).json()
    assert schema["$id"] == "/schemas/report-submission.json"
    assert {"category", "location", "grid_code"} <= set(schema["properties"])
    assert client.get("/schemas/nothing.json").status_code == 404


def test_categories_are_the_taxonomy(client: TestClient, auth: TokenFactory) -> None:
    categories = client.get("/api/v1/categories", headers=auth("grid_worker")).json()
    manhole = next(c for c in categories if c["code"] == "manhole_cover")
    assert manhole["name_zh"] and manhole["name_en"] and manhole["default_priority"]


def test_grids_are_a_geojson_feature_collection(client: TestClient, auth: TokenFactory) -> None:
    response = client.get("/api/v1/grids", headers=auth("operator"))
    assert response.headers["content-type"].startswith("application/geo+json")
    collection = response.json()
    assert collection["type"] == "FeatureCollection"
    codes = {feature["properties"]["code"] for feature in collection["features"]}
    assert GRID in codes


def test_openapi_lists_every_route_and_the_bearer_scheme(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["info"]["title"] == "GridHub"
    expected = {
        ("/api/v1/reports", "post"),
        ("/api/v1/reports/{report_id}", "get"),
        ("/api/v1/cases", "get"),
        ("/api/v1/cases/{case_id}", "get"),
        ("/api/v1/categories", "get"),
        ("/api/v1/grids", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/schemas/", "get"),
        ("/schemas/{name}.json", "get"),
    }
    listed = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    assert expected <= listed
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["bearer"]["description"],
    }
    post = spec["paths"]["/api/v1/reports"]["post"]
    assert post["security"] == [{"bearer": []}]
    assert {"202", "401", "403", "413", "422", "503"} <= set(post["responses"])
    errors = spec["components"]["schemas"]["ValidationErrorOut"]
    assert "errors" in errors["properties"]
    assert "security" not in spec["paths"]["/healthz"]["get"]
    assert client.get("/docs").status_code == 200
