"""The report-up, webhook and brief agents without a broker (Faust ``test_context``),
the webhook agent against a real local HTTP receiver and a SQLite outbox."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from schemas.alerts import ALERT_TYPE_PREFIX, NOTIFICATION_TYPE, Alert, AlertKind
from schemas.cases import Priority
from schemas.envelope import decode_kafka
from schemas.topics import TopicNames
from sinks.db import make_engine, upgrade
from sinks.outbox import Outbox
from sinks.outbox_models import inbox
from sinks.ports import InMemoryCaseSink
from sinks.webhooks import DELIVERY_HEADER, WebhookConfig, settings_secret, verify
from streams.agents import brief_agent, reportup_agent, webhook_agent
from streams.agents.brief_agent import DatabaseBriefs
from streams.app import build_app
from streams.codecs import encode_alert, encode_case_event, encode_notification
from streams.config import NotificationPorts, StreamConfig, StreamDeps
from streams.logic.reportup import alert_notifications, report_up
from streams.topics import stage_topics
from tests.fixtures.receiver import Receiver, receiver_fixture  # noqa: F401
from tests.support.cases import CaseStory
from tests.support.streams import Captured, settle

SECRET = "unit-secret"
CASE = "990101001001-0123456789ab"


@pytest.fixture
def engine(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    upgrade(url)
    eng = make_engine(url)
    yield eng
    eng.dispose()


@pytest.fixture
def hub(district, tmp_path: Path, engine, receiver: Receiver):
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
        subscriptions={"duty_office": receiver.url("/duty"), "department:*": receiver.url("/dept")},
        secret=SECRET,
        base_delay=0.01,
        max_delay=0.05,
        timeout=2.0,
    )
    deps = StreamDeps(
        district=district,
        sink=InMemoryCaseSink(),
        notifications=NotificationPorts(Outbox(engine), hooks),
        briefs=DatabaseBriefs(engine, tmp_path / "briefs", brief_agent.brief_names(district)),
    )
    reportup_agent.register(app, topics, config, deps)
    webhook_agent.register(app, topics, config, deps)
    brief_job = brief_agent.register(app, topics, config, deps)
    app.finalize()
    captured = Captured()
    for name in ("alerts", "notifications"):
        captured.patch(getattr(topics, name), name)
    return app, captured, brief_job


def p1_story() -> list[Any]:
    s = CaseStory.open(CASE, priority=Priority.P1)
    s.case = s.case.model_copy(update={"report_ids": ["r-1"], "category": "gas_smell"})
    s.events[0] = s.events[0].model_copy(update={"case": s.case})
    s.dispatch("chengguan")
    s.resolve()
    s.close()
    return s.events


async def test_report_up_agent_sends_alerts_and_notifications(hub):
    app, captured, _ = hub
    events = p1_story()
    async with app.agents[reportup_agent.AGENT_NAME].test_context() as agent:
        for event in [*events, events[0]]:  # the opening again: a replay
            value, headers = encode_case_event(event)
            await agent.put(value, key=event.case_id.encode(), headers=headers)
        await settle()
    alerts = captured.sent["alerts"]
    assert len(alerts) == 2  # P1 at opening, and the same alert again on the replay
    for sent in alerts:
        envelope = decode_kafka(sent["value"], sent["headers"])
        assert envelope.type == f"{ALERT_TYPE_PREFIX}p1_case"
        assert envelope.id == f"p1_case:{CASE}"
        assert sent["key"] == events[0].case.grid_code.encode()
        assert envelope.subject == events[0].case.grid_code
        assert "燃气" in Alert.model_validate(envelope.data).title  # the category's name
    sent = [
        (m["key"], decode_kafka(m["value"], m["headers"])) for m in captured.sent["notifications"]
    ]
    assert {e.type for _, e in sent} == {NOTIFICATION_TYPE}
    assert [(k, e.id) for k, e in sent] == [
        (b"duty_office", f"duty_office:p1_case:{CASE}"),
        (b"department:chengguan", f"dispatched:department:chengguan:{CASE}:2"),
        (b"reporter:r-1", f"resolved:reporter:r-1:{CASE}:3"),
        (b"reporter:r-1", f"closed:reporter:r-1:{CASE}:4"),
        (b"duty_office", f"duty_office:p1_case:{CASE}"),
    ]


async def test_alerts_agent_tells_the_duty_office_of_hotspots_only(hub):
    app, captured, _ = hub
    hotspot = Alert(
        id="hotspot:990101001001001:garbage:2026-11-26T09:00:00Z",
        kind=AlertKind.HOTSPOT,
        time=datetime(2026, 11, 26, 9, 4, tzinfo=UTC),
        grid_code="990101001001001",
        category="garbage",
        title="garbage hotspot",
        detail={"count": 5},
    )
    p1 = hotspot.model_copy(update={"id": "p1_case:x", "kind": AlertKind.P1_CASE})
    async with app.agents[reportup_agent.ALERTS_AGENT_NAME].test_context() as agent:
        for alert in (hotspot, p1):
            value, headers = encode_alert(alert)
            await agent.put(value, key=alert.grid_code.encode(), headers=headers)
        await agent.put(b"not an alert", key=b"x", headers=[])
        await settle()
    [sent] = captured.sent["notifications"]
    assert sent["key"] == b"duty_office"
    assert decode_kafka(sent["value"], sent["headers"]).id == f"duty_office:{hotspot.id}"


async def test_webhook_agent_stores_the_inbox_and_posts_signed_webhooks(
    hub, engine, receiver: Receiver
):
    app, _, _ = hub
    events = p1_story()
    notes = [
        *alert_notifications(
            Alert(
                id="p1_case:c",
                kind=AlertKind.P1_CASE,
                time=events[0].time,
                grid_code="990101001001001",
                case_id=CASE,
                priority=Priority.P1,
                title="P1",
            )
        )
    ]
    notes += list(report_up(events[1], Priority.P1).notifications)  # department
    notes += list(report_up(events[3], Priority.P1).notifications)  # reporter (inbox only)
    async with app.agents[webhook_agent.AGENT_NAME].test_context() as agent:
        for note in [*notes, *notes]:  # every notification twice
            value, headers = encode_notification(note)
            await agent.put(value, key=note.recipient.encode(), headers=headers)
        deadline = time.monotonic() + 10
        while len(receiver.delivered("/duty")) + len(receiver.delivered("/dept")) < 2:
            assert time.monotonic() < deadline, receiver.received
            await asyncio.sleep(0.05)
        await settle()
    [duty] = receiver.at("/duty")
    [dept] = receiver.at("/dept")
    assert duty.headers[DELIVERY_HEADER] == notes[0].id
    assert dept.headers[DELIVERY_HEADER] == notes[1].id
    for request, pattern in ((duty, "duty_office"), (dept, "department:*")):
        assert verify(settings_secret(SECRET, pattern), request.body, request.headers)
    with engine.connect() as conn:
        rows = conn.execute(select(inbox.c.recipient).order_by(inbox.c.recipient)).scalars().all()
    assert rows == ["department:chengguan", "duty_office", "reporter:r-1"]


async def test_the_brief_job_writes_the_day(hub, tmp_path, monkeypatch):
    _, _, brief_job = hub

    async def no_broker(*args: Any, **kwargs: Any) -> list[Alert]:
        raise ConnectionError("no broker in unit tests")

    monkeypatch.setattr(brief_agent, "read_alerts", no_broker)
    paths = await brief_job(date(2026, 11, 25))
    assert [p.name for p in paths] == [
        "brief-2026-11-25.md",
        "brief-2026-11-25.html",
        "brief-2026-11-25.json",
    ]
    assert "本简报未获得热点告警数据" in paths[0].read_text(encoding="utf-8")


def test_the_brief_is_a_leader_only_crontab(district, tmp_path, engine):
    config = StreamConfig(
        app_id="unit-cron",
        bootstrap="127.0.0.1:1",
        topics=TopicNames.with_prefix("unit."),
        datadir=tmp_path,
        web_enabled=False,
    )
    app = build_app(config)
    calls: list[tuple[str, dict[str, Any]]] = []
    original = app.crontab

    def spy(cron: str, **kwargs: Any):
        calls.append((cron, kwargs))
        return original(cron, **kwargs)

    app.crontab = spy  # type: ignore[method-assign]
    briefs = DatabaseBriefs(engine, tmp_path, brief_agent.brief_names(district))
    deps = StreamDeps(district=district, sink=InMemoryCaseSink(), briefs=briefs)
    brief_agent.register(app, stage_topics(app, config), config, deps)
    [(cron, kwargs)] = calls
    assert cron == "0 7 * * *"
    assert kwargs["on_leader"] is True
    assert str(kwargs["timezone"]) == "Asia/Shanghai"
