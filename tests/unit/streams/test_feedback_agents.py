"""The feedback stages without a broker (Faust ``test_context``): the webhook agent
against a real local HTTP receiver and a SQLite outbox — notifications, and the
reporters' feedback it derives from the case-event feed — and the daily brief.
(What a case event reports up is decided by the case agent: test_case_agent.py.)"""

from __future__ import annotations

import asyncio
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from schemas.alerts import Alert, AlertKind
from schemas.cases import CaseEventType, Priority
from schemas.feedback import read_token
from schemas.topics import TopicNames
from sinks.db import make_engine, upgrade
from sinks.outbox import Outbox
from sinks.outbox_models import inbox
from sinks.ports import InMemoryCaseSink
from sinks.webhooks import DELIVERY_HEADER, WebhookConfig, settings_secret, verify
from streams.agents import brief_agent, webhook_agent
from streams.agents.brief_agent import DatabaseBriefs
from streams.app import build_app
from streams.codecs import encode_case_event, encode_notification
from streams.config import NotificationPorts, StreamConfig, StreamDeps
from streams.logic.feedback import FeedbackLinks
from streams.logic.reportup import alert_notifications, report_up
from streams.topics import stage_topics
from tests.fixtures.receiver import Receiver, receiver_fixture  # noqa: F401
from tests.support.cases import CaseStory, make_report
from tests.support.streams import Captured, Feed, settle

SECRET = "unit-secret"
LINK_SECRET = "unit-link-secret"
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
        feedback=FeedbackLinks(secret=LINK_SECRET),
    )
    webhook_agent.register(app, topics, config, deps)
    brief_job = brief_agent.register(app, topics, config, deps)
    app.finalize()
    captured = Captured()
    for name in ("alerts", "notifications"):
        captured.patch(getattr(topics, name), name)
    return app, captured, brief_job, config.topics


def p1_story() -> list[Any]:
    s = CaseStory.open(CASE, priority=Priority.P1)
    s.case = s.case.model_copy(update={"category": "gas_smell"})
    s.events[0] = s.events[0].model_copy(update={"case": s.case})
    s.dispatch("chengguan")
    s.resolve()
    s.close()
    return s.events


async def test_webhook_agent_stores_the_inbox_and_posts_signed_webhooks(
    hub, engine, receiver: Receiver
):
    app, _, _, names = hub
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
    # reporter (inbox only)
    notes += list(report_up(events[3], Priority.P1, report_ids=["r-1"]).notifications)
    async with app.agents[webhook_agent.AGENT_NAME].test_context() as agent:
        feed = Feed(agent)
        for note in [*notes, *notes]:  # every notification twice
            value, headers = encode_notification(note)
            await feed.put(names.notifications, value, key=note.recipient.encode(), headers=headers)
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


async def test_reporters_feedback_is_derived_from_the_case_event_feed(hub, engine):
    """A new report that left a phone gets its private link (once, however often
    the feed delivers its event), a report without one none, and a reporter's low
    rating is the duty office's 回访不满意 item — read from gridhub.case-events,
    not sent as notification records of their own."""
    app, _, _, names = hub
    story = CaseStory.open(CASE, report=make_report("r-phone"))
    story.attach(make_report("r-silent", phone=None))
    story.dispatch("chengguan")
    story.resolve()
    story.step(CaseEventType.RATED, actor="reporter:r-phone", data={"score": 1, "note": "没修好"})
    async with app.agents[webhook_agent.AGENT_NAME].test_context() as agent:
        feed = Feed(agent)
        for event in [*story.events, *story.events]:  # the feed delivers each twice
            value, headers = encode_case_event(event)
            await feed.put(names.case_events, value, key=CASE.encode(), headers=headers)
        deadline = time.monotonic() + 10
        while True:
            with engine.connect() as conn:
                rows = conn.execute(
                    select(inbox.c.notification_id.label("id"), inbox.c.recipient, inbox.c.data)
                ).all()
            if len(rows) >= 2 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        await settle()
    by_id = {row.id: row for row in rows}
    assert set(by_id) == {"feedback_link:r-phone", f"feedback_unsatisfied:{CASE}:5"}
    link = by_id["feedback_link:r-phone"]
    assert link.recipient == "contact:r-phone"
    token = str(link.data["link"]).rsplit("/", 1)[1]
    assert read_token(LINK_SECRET, token, story.events[0].time).report_id == "r-phone"
    assert by_id[f"feedback_unsatisfied:{CASE}:5"].recipient == "duty_office"


async def test_the_brief_job_writes_the_day(hub, tmp_path, monkeypatch):
    _, _, brief_job, _ = hub

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
