from __future__ import annotations

from dataclasses import replace

from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.deps import GatewayDeps
from sinks.tokens import CachedTokens, TokenStore
from tests.support.gateway import TokenFactory, report_body

REPORTS = "/api/v1/reports"
CASES = "/api/v1/cases"


def test_no_token_is_401_with_a_bearer_challenge(client: TestClient) -> None:
    response = client.post(REPORTS, json=report_body())
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "token" in response.json()["detail"]


def test_no_token_wins_over_an_invalid_body(client: TestClient) -> None:
    assert client.post(REPORTS, json={"nonsense": True}).status_code == 401


def test_unknown_token_is_401(client: TestClient) -> None:
    response = client.get(CASES, headers={"Authorization": "Bearer not-a-real-token"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_other_scheme_is_401(client: TestClient) -> None:
    response = client.get(CASES, headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert response.status_code == 401


def test_revoked_token_is_401(client: TestClient, tokens: TokenStore) -> None:
    plaintext, record = tokens.create("operator", "leaver")
    headers = {"Authorization": f"Bearer {plaintext}"}
    assert client.get(CASES, headers=headers).status_code == 200
    tokens.revoke(record.id)
    assert client.get(CASES, headers=headers).status_code == 401


def test_operator_may_not_submit_reports(client: TestClient, auth: TokenFactory) -> None:
    response = client.post(REPORTS, json=report_body(), headers=auth("operator"))
    assert response.status_code == 403
    assert "grid_worker" in response.json()["detail"]


def test_grid_worker_may_not_list_cases(client: TestClient, auth: TokenFactory) -> None:
    response = client.get(CASES, headers=auth("grid_worker"))
    assert response.status_code == 403
    detail = response.json()["detail"]
    assert "'grid_worker'" in detail and "operator" in detail


def test_admin_passes_every_role_check(client: TestClient, auth: TokenFactory) -> None:
    headers = auth("admin")
    assert client.get(CASES, headers=headers).status_code == 200
    assert client.get("/api/v1/categories", headers=headers).status_code == 200


def test_reference_data_needs_any_signed_in_role(client: TestClient, auth: TokenFactory) -> None:
    assert client.get("/api/v1/categories").status_code == 401
    for role in ("grid_worker", "operator", "department", "leader", "system"):
        response = client.get("/api/v1/grids", headers=auth(role, scope=None))
        assert response.status_code == 200, role


def test_through_the_token_cache_a_revoked_token_is_refused_after_its_ttl(
    deps: GatewayDeps, tokens: TokenStore
) -> None:
    now = [0.0]
    cached = CachedTokens(tokens, ttl_seconds=5.0, clock=lambda: now[0])
    plaintext, record = tokens.create("operator", "leaver")
    headers = {"Authorization": f"Bearer {plaintext}"}
    with TestClient(create_app(replace(deps, tokens=cached))) as client:
        assert client.get(CASES, headers=headers).status_code == 200
        tokens.revoke(record.id)
        assert client.get(CASES, headers=headers).status_code == 200  # within the bound
        now[0] = 5.0
        assert client.get(CASES, headers=headers).status_code == 401
        assert client.get(CASES, headers={"Authorization": "Bearer gh_nope"}).status_code == 401
