"""/api/v1/admin/webhooks: an admin subscribes URLs to recipients' notifications."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from gateway.app import create_app
from gateway.deps import GatewayDeps
from routing.district import District
from sinks.subscriptions import SubscriptionStore
from sinks.tokens import TokenStore
from tests.support.gateway import TokenFactory, principal_of, with_stores

URL = "/api/v1/admin/webhooks"
HOOK = {"recipient": "department:shizheng", "url": "https://receiver.example/hooks/shizheng"}


@pytest.fixture
def client(deps: GatewayDeps, engine: Engine, district: District) -> Iterator[TestClient]:
    with TestClient(create_app(with_stores(deps, engine))) as test_client:
        yield test_client


@pytest.fixture
def admin(auth: TokenFactory) -> dict[str, str]:
    return auth("admin", name="管理员")


def test_create_list_get_delete(
    client: TestClient, admin: dict[str, str], engine: Engine, tokens: TokenStore
) -> None:
    created = client.post(URL, json={**HOOK, "description": "市政委"}, headers=admin)
    assert created.status_code == 201, created.text
    body = created.json()
    assert {k: body[k] for k in ("recipient", "url", "active", "description", "created_by")} == {
        **HOOK,
        "active": True,
        "description": "市政委",
        "created_by": f"admin:{principal_of(tokens, admin)}",
    }
    assert body["id"] and body["created_at"]
    assert body["secret"].startswith("whsec_")  # shown this once
    assert SubscriptionStore(engine).active() == {HOOK["recipient"]: HOOK["url"]}

    other = client.post(
        URL,
        json={"recipient": "system:*", "url": "http://10.0.0.7/in", "active": False},
        headers=admin,
    )
    assert other.status_code == 201
    listed = client.get(URL, headers=admin).json()
    assert [s["recipient"] for s in listed] == ["department:shizheng", "system:*"]
    shown = client.get(f"{URL}/{body['id']}", headers=admin).json()
    assert "secret" not in shown and shown == {k: v for k, v in body.items() if k != "secret"}

    assert client.delete(f"{URL}/{body['id']}", headers=admin).status_code == 204
    assert client.get(f"{URL}/{body['id']}", headers=admin).status_code == 404
    assert client.delete(f"{URL}/{body['id']}", headers=admin).status_code == 404
    assert [s["recipient"] for s in client.get(URL, headers=admin).json()] == ["system:*"]


def test_one_subscription_per_recipient(client: TestClient, admin: dict[str, str]) -> None:
    assert client.post(URL, json=HOOK, headers=admin).status_code == 201
    again = client.post(URL, json={**HOOK, "url": "https://elsewhere.example/"}, headers=admin)
    assert again.status_code == 409
    assert "exists already" in again.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**HOOK, "url": "ftp://receiver.example/"}, "body.url"),
        ({**HOOK, "url": "https://has space.example/"}, "body.url"),
        ({**HOOK, "recipient": "department shizheng"}, "body.recipient"),
        ({**HOOK, "recipient": ""}, "body.recipient"),
        ({"url": HOOK["url"]}, "body.recipient"),
        ({**HOOK, "secret": "x"}, "body.secret"),
    ],
)
def test_invalid_subscription_is_422(
    client: TestClient, admin: dict[str, str], body: dict[str, str], field: str
) -> None:
    response = client.post(URL, json=body, headers=admin)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field


def test_only_admins(client: TestClient, auth: TokenFactory) -> None:
    assert client.get(URL).status_code == 401
    for role in ("operator", "department", "system", "leader", "grid_worker"):
        assert client.get(URL, headers=auth(role)).status_code == 403
        assert client.post(URL, json=HOOK, headers=auth(role)).status_code == 403
        assert client.delete(f"{URL}/x", headers=auth(role)).status_code == 403


def test_refused_when_webhooks_cannot_be_signed(
    deps: GatewayDeps, engine: Engine, district: District, admin: dict[str, str]
) -> None:
    unsigned = with_stores(deps, engine, webhook_signing=False)
    with TestClient(create_app(unsigned)) as test_client:
        response = test_client.post(URL, json=HOOK, headers=admin)
    assert response.status_code == 409
    assert "GRIDHUB_WEBHOOK_SECRET" in response.json()["detail"]


def test_without_a_store_it_is_503(
    deps: GatewayDeps, engine: Engine, district: District, admin: dict[str, str]
) -> None:
    with TestClient(create_app(with_stores(deps, engine, subscriptions=None))) as c:
        assert c.get(URL, headers=admin).status_code == 503
