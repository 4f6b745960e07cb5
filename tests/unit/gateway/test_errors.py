from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.deps import GatewayDeps
from gateway.publisher import InMemoryPublisher
from tests.support.gateway import TokenFactory, report_body

URL = "/api/v1/reports"


def test_invalid_body_names_each_field_plainly(client: TestClient, auth: TokenFactory) -> None:
    body = report_body(category="Not A Code", location={"lat": 123.0, "lon": 116.0})
    response = client.post(URL, json=body, headers=auth("grid_worker"))

    assert response.status_code == 422
    payload = response.json()
    fields = {error["field"] for error in payload["errors"]}
    assert fields == {"body.category", "body.location.lat"}
    assert all(error["message"] for error in payload["errors"])
    # FastAPI's usual list is still there for clients that read it.
    assert {tuple(d["loc"]) for d in payload["detail"]} == {
        ("body", "category"),
        ("body", "location", "lat"),
    }


def test_missing_place_and_unknown_fields_are_422(client: TestClient, auth: TokenFactory) -> None:
    body = report_body(location=None, colour="red")
    response = client.post(URL, json=body, headers=auth("grid_worker"))
    assert response.status_code == 422
    fields = {error["field"] for error in response.json()["errors"]}
    assert "body.colour" in fields


def test_malformed_json_is_422(client: TestClient, auth: TokenFactory) -> None:
    headers = {**auth("grid_worker"), "Content-Type": "application/json"}
    response = client.post(URL, content=b"{not json", headers=headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"].startswith("body")


@contextmanager
def small_client(deps: GatewayDeps, limit: int) -> Iterator[TestClient]:
    with TestClient(create_app(dataclasses.replace(deps, max_body_bytes=limit))) as client:
        yield client


def test_oversized_body_is_413(
    deps: GatewayDeps, auth: TokenFactory, publisher: InMemoryPublisher
) -> None:
    headers = auth("grid_worker")
    with small_client(deps, 512) as client:
        body = report_body(description="很" * 400)
        response = client.post(URL, json=body, headers=headers)
        assert response.status_code == 413
        assert "512 bytes" in response.json()["detail"]
        assert client.post(URL, json=report_body(), headers=headers).status_code == 202
    assert len(publisher.records) == 1


def test_default_limit_refuses_a_huge_declared_body(client: TestClient) -> None:
    # Refused before authentication and before reading a byte of it.
    response = client.post(URL, content=b"x" * (256 * 1024 + 1))
    assert response.status_code == 413


def test_streamed_body_without_length_is_counted(
    deps: GatewayDeps, auth: TokenFactory, publisher: InMemoryPublisher
) -> None:
    headers = {**auth("grid_worker"), "Content-Type": "application/json"}

    def chunks() -> Iterator[bytes]:
        yield b'{"category": "garbage", "description": "'
        for _ in range(20):
            yield b"x" * 100
        yield b'", "grid_code": "990101001001001"}'

    with small_client(deps, 1024) as client:
        response = client.post(URL, content=chunks(), headers=headers)
        assert response.status_code == 413
    assert publisher.records == []
