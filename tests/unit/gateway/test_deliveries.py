"""/api/v1/admin/deliveries: an admin lists dead webhook and channel deliveries
and sends one again (back to pending, stale, for the worker's sweep)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from gateway.app import create_app
from gateway.deps import GatewayDeps
from routing.notify import Target
from schemas.alerts import Notification
from sinks.channels import ChannelOutbox
from sinks.outbox import Outbox
from sinks.redelivery import Redelivery
from tests.support.gateway import TokenFactory

NOTE = Notification(
    id="n-1",
    recipient="duty_office",
    channel="app",
    time=datetime(2026, 12, 7, tzinfo=UTC),
    case_id="990101001001-c1",
    event_type="org.gridhub.alert.p1_case",
    subject="P1",
)


@pytest.fixture
def admin_client(deps: GatewayDeps, engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(replace(deps, deliveries=Redelivery(engine)))) as client:
        yield client


def test_dead_deliveries_are_listed_and_sent_again(
    admin_client: TestClient, engine: Engine, auth: TokenFactory
) -> None:
    webhooks, channels = Outbox(engine), ChannelOutbox(engine)
    (hook,) = webhooks.accept([NOTE], lambda _r: "http://127.0.0.1:9/hook")
    webhooks.mark_dead(hook.notification_id, 5, "HTTP 500")
    (mail,) = channels.accept([NOTE], lambda _n: [Target("email", "duty@district.test")])
    channels.mark_dead(mail.id, 5, "SMTP 451")
    admin = auth("admin")

    listed = admin_client.get("/api/v1/admin/deliveries/webhook", headers=admin).json()["items"]
    assert [(d["id"], d["last_error"]) for d in listed] == [("n-1", "HTTP 500")]
    listed = admin_client.get("/api/v1/admin/deliveries/channel", headers=admin).json()["items"]
    assert [(d["channel"], d["target"]) for d in listed] == [("email", "duty@district.test")]

    assert (
        admin_client.post("/api/v1/admin/deliveries/webhook/n-1/resend", headers=admin).status_code
        == 202
    )
    assert webhooks.delivery("n-1")["status"] == "pending"
    assert [d.notification_id for d in webhooks.claim_stale()] == ["n-1"]
    path = f"/api/v1/admin/deliveries/channel/{mail.id}/resend"
    assert admin_client.post(path, headers=admin).status_code == 202
    assert admin_client.post(path, headers=admin).status_code == 404  # not dead any more
    assert [d.id for d in channels.claim_stale()] == [mail.id]
    assert (
        admin_client.get("/api/v1/admin/deliveries/webhook", headers=auth("operator")).status_code
        == 403
    )
