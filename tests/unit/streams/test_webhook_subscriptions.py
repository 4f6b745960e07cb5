"""The webhook agent reads the admin's subscriptions from the database, beside the
settings' ones (Faust ``test_context``, a real local receiver, a SQLite outbox)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from schemas.alerts import Notification
from schemas.topics import TopicNames
from sinks.db import make_engine, upgrade
from sinks.outbox import Outbox
from sinks.ports import InMemoryCaseSink
from sinks.secretbox import SecretBox
from sinks.subscriptions import DbSubscriptions, SubscriptionStore
from sinks.webhooks import WebhookConfig, verify
from streams.agents import webhook_agent
from streams.app import build_app
from streams.codecs import encode_notification
from streams.config import NotificationPorts, StreamConfig, StreamDeps
from streams.topics import stage_topics
from tests.fixtures.receiver import Receiver, receiver_fixture  # noqa: F401

SECRET = "unit-secret"
BOX = SecretBox(SECRET)


@pytest.fixture
def engine(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    upgrade(url)
    eng = make_engine(url)
    yield eng
    eng.dispose()


def note(recipient: str, n: int = 1) -> Notification:
    return Notification(
        id=f"dispatched:{recipient}:c-{n}:2",
        recipient=recipient,
        channel="webhook",
        time=datetime(2026, 8, 15, 6, 30, tzinfo=UTC),
        case_id=f"c-{n}",
        event_type="org.gridhub.case.dispatched",
        subject="新任务",
    )


def test_lookup_combines_settings_and_database(engine: Engine) -> None:
    store = SubscriptionStore(engine, BOX)
    store.create("department:shizheng", "https://db.example/shizheng", created_by="admin")
    store.create("system:*", "https://db.example/systems", created_by="admin")
    settings = WebhookConfig(
        subscriptions={"department:*": "https://settings.example/dept"}, secret=SECRET
    )
    lookup = webhook_agent.subscription_lookup(settings, DbSubscriptions(engine, box=BOX))
    assert lookup("department:shizheng") == "https://db.example/shizheng"  # exact wins
    assert lookup("department:zhujian") == "https://settings.example/dept"
    assert lookup("system:urn:citymgmt") == "https://db.example/systems"
    assert lookup("duty_office") is None
    assert webhook_agent.subscription_lookup(settings) == settings.url_for


def test_without_a_secret_database_subscriptions_are_ignored(engine: Engine) -> None:
    SubscriptionStore(engine, BOX).create("duty_office", "https://db.example/", created_by="admin")
    unsigned = WebhookConfig(subscriptions={}, secret="")
    lookup = webhook_agent.subscription_lookup(unsigned, DbSubscriptions(engine, box=BOX))
    assert lookup("duty_office") is None


async def test_agent_delivers_to_a_subscription_added_while_running(
    district, tmp_path: Path, engine: Engine, receiver: Receiver
) -> None:
    config = StreamConfig(
        app_id=f"unit-{tmp_path.name}",
        bootstrap="127.0.0.1:1",  # never contacted
        topics=TopicNames.with_prefix("unit."),
        datadir=tmp_path,
        web_enabled=False,
    )
    app = build_app(config)
    topics = stage_topics(app, config)
    hooks = WebhookConfig(
        subscriptions={}, secret=SECRET, base_delay=0.01, max_delay=0.05, timeout=2.0
    )
    ports = NotificationPorts(
        Outbox(engine), hooks, DbSubscriptions(engine, box=BOX, reload_seconds=0)
    )
    deps = StreamDeps(district=district, sink=InMemoryCaseSink(), notifications=ports)
    webhook_agent.register(app, topics, config, deps)
    app.finalize()
    outbox = Outbox(engine)

    async with app.agents[webhook_agent.AGENT_NAME].test_context() as agent:
        before = note("department:shizheng", 1)
        value, headers = encode_notification(before)
        await agent.put(value, key=before.recipient.encode(), headers=headers)
        deadline = time.monotonic() + 10
        while (row := outbox.delivery(before.id)) is None or row["status"] != "dead":
            assert time.monotonic() < deadline, row  # no subscription yet: dead at once
            await asyncio.sleep(0.02)

        made = SubscriptionStore(engine, BOX).create(
            "department:shizheng", receiver.url("/shizheng"), created_by="admin"
        )
        after = note("department:shizheng", 2)
        value, headers = encode_notification(after)
        await agent.put(value, key=after.recipient.encode(), headers=headers)
        deadline = time.monotonic() + 10
        while not receiver.delivered("/shizheng"):
            assert time.monotonic() < deadline, receiver.received
            await asyncio.sleep(0.05)
    [request] = receiver.at("/shizheng")
    assert made.secret is not None
    assert verify(made.secret, request.body, request.headers)
