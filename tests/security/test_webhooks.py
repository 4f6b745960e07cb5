"""M7, L1 — webhooks: a secret per subscription (no receiver can sign for
another), the timestamp inside the signature (no replay), https only and no
internal address outside dev — checked when made and again when sent (DNS
rebinding) — and nothing of a receiver's answer kept. Group robots and the SMS
provider are sent to under the same URL rule."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine
from standardwebhooks.webhooks import WebhookVerificationError

from gridhub.bootstrap import channel_ports
from gridhub.settings import Settings
from routing.notify import NotifyRule, NotifyRules
from schemas.alerts import Notification
from sinks.channels import ChannelLimits, ChannelOutbox, ChannelSender
from sinks.db import make_engine, upgrade
from sinks.outbox import Outbox
from sinks.robots import RobotChannel
from sinks.secretbox import SecretBox
from sinks.subscriptions import DbSubscriptions, SubscriptionStore, webhook_subscriptions
from sinks.urls import UrlPolicy, UrlRefused
from sinks.webhooks import TIMESTAMP_HEADER, Outcome, WebhookConfig, WebhookSender, verify
from tests.fixtures.receiver import Behaviour, Receiver, receiver_fixture  # noqa: F401
from tests.support.gateway import WEBHOOK_KEY
from tests.support.security import attacked

PUBLIC_IP = "93.184.215.14"  # never contacted: the tests resolve names themselves
BOX = SecretBox(WEBHOOK_KEY)


def public_resolver(host: str, port: int) -> list[str]:
    return [PUBLIC_IP]


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    url = f"sqlite:///{tmp_path / 'hooks.db'}"
    upgrade(url)
    return make_engine(url)


def note(recipient: str, n: int = 1) -> Notification:
    return Notification(
        id=f"dispatched:{recipient}:c-{n}:2",
        recipient=recipient,
        channel="webhook",
        time=datetime(2026, 12, 1, tzinfo=UTC),
        case_id=f"c-{n}",
        event_type="org.gridhub.case.dispatched",
        subject="P1 燃气泄漏",
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://receiver.example/hook",  # plain http
        "https://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "https://127.0.0.1:6066/table/cases/",
        "https://localhost:5432/",
        "https://[::1]:9090/api/v1/admin/tsdb/snapshot",
        "https://0x7f000001/",
        "https://user:pw@receiver.example/",
        "https://gridhub-kafka-bootstrap.gridhub.svc:9092/",
        "https://100.100.100.200/latest/meta-data/",  # CGNAT: a cloud's metadata
        "https://10.0.0.5/",
        "https://prometheus.monitoring.svc.cluster.local/",
    ],
)
def test_l1_internal_or_plain_urls_are_refused_outside_dev(tmp_path: Path, url: str) -> None:
    hub = attacked(tmp_path)
    with TestClient(hub.app) as client:
        answer = client.post(
            "/api/v1/admin/webhooks",
            json={"recipient": "department:x0", "url": url},
            headers=hub.bearer("admin"),
        )
    assert answer.status_code == 422, answer.text
    hub.engine.dispose()


def test_l1_a_name_that_resolves_inside_is_refused(engine: Engine) -> None:
    policy = UrlPolicy(dev=False, resolver=lambda host, port: ["10.1.2.3"])
    store = SubscriptionStore(engine, BOX, policy)
    with pytest.raises(ValueError, match="private"):
        store.create("duty_office", "https://innocent.example/hook", created_by="admin:a")


async def test_l1_dns_rebinding_is_refused_at_send_time(engine: Engine, receiver: Receiver) -> None:
    """Public when the subscription was made, 127.0.0.1 when the worker sends:
    nothing reaches the internal listener."""
    answers = iter([[PUBLIC_IP], ["127.0.0.1"]])
    policy = UrlPolicy(dev=False, resolver=lambda host, port: next(answers))
    store = SubscriptionStore(engine, BOX, policy)
    url = "https://rebind.example:8443/hook"
    store.create("duty_office", url, created_by="admin:a")
    config = WebhookConfig({}, WEBHOOK_KEY, policy=policy, max_attempts=1)
    outbox = Outbox(engine)
    db = DbSubscriptions(engine, box=BOX, reload_seconds=0)
    [delivery] = outbox.accept([note("duty_office")], db.url_for)
    sender = WebhookSender(config, outbox, secrets_for=db.secrets_for)
    try:
        assert await sender.deliver(delivery) is Outcome.DEAD
    finally:
        await sender.aclose()
    row = outbox.delivery(delivery.notification_id)
    assert row is not None and "127.0.0.1" in row["last_error"]
    assert receiver.received == []


async def test_m7_each_receiver_has_its_own_secret_and_keeps_no_answer(
    engine: Engine, receiver: Receiver
) -> None:
    store = SubscriptionStore(engine, BOX)  # dev: local receivers allowed
    a = store.create("department:a", receiver.url("/a"), created_by="admin:x")
    b = store.create(
        "department:b",
        receiver.url("/b", Behaviour(status=403)),
        created_by="admin:x",
    )
    assert a.secret and b.secret and a.secret != b.secret
    db = DbSubscriptions(engine, box=BOX, reload_seconds=0)
    outbox = Outbox(engine)
    deliveries = outbox.accept([note("department:a"), note("department:b")], db.url_for)
    sender = WebhookSender(
        WebhookConfig({}, WEBHOOK_KEY, max_attempts=1), outbox, secrets_for=db.secrets_for
    )
    try:
        for delivery in deliveries:
            await sender.deliver(delivery)
    finally:
        await sender.aclose()
    [to_a] = receiver.at("/a")
    assert verify(a.secret, to_a.body, to_a.headers)
    with pytest.raises(WebhookVerificationError):
        verify(b.secret, to_a.body, to_a.headers)  # B cannot forge (or check) A's messages
    # The timestamp is signed: the same message replayed later does not verify.
    later = {**to_a.headers, TIMESTAMP_HEADER: str(int(to_a.headers[TIMESTAMP_HEADER]) + 600)}
    with pytest.raises(WebhookVerificationError):
        verify(a.secret, to_a.body, later)
    dead = outbox.delivery(note("department:b").id)
    assert dead is not None and dead["last_error"] == "HTTP 403"  # the answer's body: not kept


async def test_m7_a_rotated_secret_and_the_old_one_both_sign_for_a_while(
    engine: Engine, receiver: Receiver
) -> None:
    store = SubscriptionStore(engine, BOX)
    made = store.create("duty_office", receiver.url("/duty"), created_by="admin:x")
    rotated = store.rotate(made.id)
    assert rotated is not None and rotated.secret != made.secret
    assert rotated.rotating_until is not None
    db = DbSubscriptions(engine, box=BOX, reload_seconds=0)
    outbox = Outbox(engine)
    [delivery] = outbox.accept([note("duty_office")], db.url_for)
    sender = WebhookSender(
        WebhookConfig({}, WEBHOOK_KEY, max_attempts=1), outbox, secrets_for=db.secrets_for
    )
    try:
        await sender.deliver(delivery)
    finally:
        await sender.aclose()
    [got] = receiver.at("/duty")
    assert made.secret and rotated.secret
    assert verify(made.secret, got.body, got.headers) and verify(
        rotated.secret, got.body, got.headers
    )


def test_m7_secrets_are_sealed_in_the_database(engine: Engine) -> None:
    made = SubscriptionStore(engine, BOX).create(
        "duty_office", "https://receiver.example/", created_by="admin:x"
    )
    with engine.connect() as conn:
        stored = conn.execute(webhook_subscriptions.select()).mappings().one()
    assert made.secret and made.secret not in str(dict(stored))
    assert BOX.open(stored["secret"]) == made.secret
    with pytest.raises(ValueError):
        SecretBox("another-key-of-thirty-two-chars!!").open(stored["secret"])


async def test_l1_a_group_robot_url_that_resolves_inside_is_dead_unsent(
    engine: Engine, receiver: Receiver
) -> None:
    """A robot's URL comes from the notify rules: outside dev it is checked like a
    webhook's when sent, so a name resolving to 127.0.0.1 reaches nothing."""
    policy = UrlPolicy(dev=False, resolver=lambda host, port: ["127.0.0.1"])
    url = "https://robot.example/cgi-bin/webhook/send?key=k"
    routing = NotifyRules((NotifyRule(("duty_office",), (), "robot", (url,), "wecom"),))
    outbox = ChannelOutbox(engine)
    [delivery] = outbox.accept([note("duty_office")], routing.targets)
    robots = RobotChannel(policy=policy)
    limits = ChannelLimits(rate_per_second=100, burst=10, max_attempts=3, base_delay=0.0)
    sender = ChannelSender({"robot": robots}, outbox, {"robot": limits})
    try:
        assert await sender.deliver(delivery) is Outcome.DEAD
    finally:
        await robots.aclose()
    [dead] = outbox.rows(status="dead")
    assert "127.0.0.1" in dead["last_error"] and "loopback" in dead["last_error"]
    assert receiver.received == []


@pytest.mark.parametrize(
    "url", ["http://sms.example/send", "https://10.0.0.7/send", "https://sms.svc/send"]
)
def test_l1_an_sms_provider_at_an_internal_or_plain_url_refuses_to_start(
    engine: Engine, url: str
) -> None:
    settings = Settings(env="prod", sms_url=url, sms_api_key=SecretStr("k" * 32))
    with pytest.raises(UrlRefused):
        channel_ports(settings, engine)
