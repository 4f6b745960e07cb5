"""Notification channels over their real protocols on 127.0.0.1: e-mail to an
SMTP server (aiosmtpd), WeCom and DingTalk group-robot JSON to a receiver that
checks the format, SMS through the HTTP provider adapter to a fake of the
provider; each rate-limited, retried with back-off and dead-lettered."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from routing.notify import NotifyRule, NotifyRules, Target
from schemas.alerts import Notification
from sinks.channels import ChannelLimits, ChannelOutbox, ChannelSender, TokenBucket
from sinks.db import make_engine, upgrade
from sinks.email import SmtpChannel
from sinks.robots import RobotChannel
from sinks.sms import HttpSmsProvider, ReportContacts, SmsChannel
from sinks.webhooks import Outcome
from sinks.writer import CaseProjectionWriter
from tests.support.cases import CaseStory, make_report
from tests.support.receivers import check_robot, check_sms, json_receiver, smtp_server

T0 = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
FAST = ChannelLimits(rate_per_second=1000, burst=100, max_attempts=3, base_delay=0.0, jitter=0)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'channels.db'}"
    upgrade(url)
    eng = make_engine(url)
    yield eng
    eng.dispose()


def note(n: int = 1, recipient: str = "duty_office", event: str = "org.gridhub.alert.p1_case"):
    return Notification(
        id=f"n-{n}",
        recipient=recipient,
        channel="app",
        time=T0,
        case_id="990101001001-c1",
        event_type=event,
        subject=f"P1 紧急案件上报：燃气异味 {n}",
        body="网格 990101001001001 发生 P1 紧急案件，请立即关注处置。",
        data={"case_id": "990101001001-c1"},
    )


def rules(*rules: NotifyRule) -> NotifyRules:
    return NotifyRules(tuple(rules))


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


async def test_email_reaches_an_smtp_server_in_utf8(engine):
    outbox = ChannelOutbox(engine)
    routing = rules(NotifyRule(("duty_office",), (), "email", ("duty@district.test",)))
    with smtp_server() as (box, port):
        sender = ChannelSender(
            {"email": SmtpChannel("127.0.0.1", port, sender="hub@district.test")},
            outbox,
            {"email": FAST},
        )
        deliveries = outbox.accept([note()], routing.targets)
        assert sender.submit(deliveries) == 1
        await sender.drain()
    (mail,) = box.messages
    assert mail["To"] == "duty@district.test" and mail["From"] == "hub@district.test"
    assert mail["Subject"] == "P1 紧急案件上报：燃气异味 1"
    assert "请立即关注处置" in mail.get_content()
    (row,) = outbox.rows()
    assert (row["status"], row["attempts"]) == ("delivered", 1)
    assert outbox.accept([note()], routing.targets) == []  # a repeat changes nothing


async def test_email_retried_on_4xx_dead_on_5xx_and_resent_by_an_admin(engine):
    outbox = ChannelOutbox(engine)
    routing = rules(NotifyRule(("duty_office",), (), "email", ("duty@district.test",)))
    with smtp_server() as (box, port):
        box.refuse, box.refuse_times = "451 try again later", 1
        sleeps = Sleeps()
        sender = ChannelSender(
            {"email": SmtpChannel("127.0.0.1", port)}, outbox, {"email": FAST}, sleep=sleeps
        )
        (first,) = outbox.accept([note(1)], routing.targets)
        assert await sender.deliver(first) is Outcome.DELIVERED
        assert len(box.messages) == 1 and len(sleeps.delays) == 1

        box.refuse, box.refuse_times = "550 mailbox unavailable", -1
        (second,) = outbox.accept([note(2)], routing.targets)
        assert await sender.deliver(second) is Outcome.DEAD
        (dead,) = outbox.rows(status="dead")
        assert dead["attempts"] == 1 and "550" in dead["last_error"]

        box.refuse = None
        assert outbox.resend(dead["id"]) is True
        assert outbox.resend(dead["id"]) is False  # pending now, not dead
        (again,) = outbox.claim_stale()
        assert await sender.deliver(again) is Outcome.DELIVERED
    assert [m["Subject"] for m in box.messages][-1].endswith("2")


@pytest.mark.parametrize("fmt", ["wecom", "dingtalk"])
async def test_group_robots_get_their_json_format(engine, fmt):
    outbox = ChannelOutbox(engine)
    answers = [(200, {"errcode": 45009, "errmsg": "api freq out of limit"})]
    answers.append((200, {"errcode": 0, "errmsg": "ok"}))
    with json_receiver(answers, check_robot) as robot:
        routing = rules(NotifyRule(("department:*",), (), "robot", (robot.url,), fmt))
        robots = RobotChannel()
        sender = ChannelSender({"robot": robots}, outbox, {"robot": FAST}, sleep=Sleeps())
        (delivery,) = outbox.accept(
            [note(recipient="department:chengguan", event="org.gridhub.case.dispatched")],
            routing.targets,
        )
        assert await sender.deliver(delivery) is Outcome.DELIVERED
        await robots.aclose()
    assert robot.problems == []
    first, second = robot.received
    assert first == second and first["msgtype"] == "markdown"
    text = first["markdown"]["content" if fmt == "wecom" else "text"]
    assert "燃气异味" in text and "990101001001-c1" in text


async def test_a_robot_with_a_wrong_key_is_dead_at_once(engine):
    outbox = ChannelOutbox(engine)
    with json_receiver(
        [(200, {"errcode": 93000, "errmsg": "invalid webhook url"})], check_robot
    ) as robot:
        routing = rules(NotifyRule(("duty_office",), (), "robot", (robot.url,), "wecom"))
        (delivery,) = outbox.accept([note()], routing.targets)
        robots = RobotChannel()
        sender = ChannelSender({"robot": robots}, outbox, {"robot": FAST})
        assert await sender.deliver(delivery) is Outcome.DEAD
        await robots.aclose()
    assert "93000" in outbox.rows(status="dead")[0]["last_error"]


async def test_sms_goes_to_the_phone_the_report_left_through_the_provider(engine):
    report = make_report("r-sms", phone="13912345678", name="王小明")
    CaseProjectionWriter(engine).write(CaseStory.open("990101001001-c1", report=report).events)
    outbox = ChannelOutbox(engine)
    routing = rules(NotifyRule(("contact:*",), ("org.gridhub.feedback.link",), "sms"))
    link = note(recipient="contact:r-sms", event="org.gridhub.feedback.link").model_copy(
        update={
            "subject": "您反映的问题已受理",
            "body": "您反映的问题已受理，可在此查看进度：/f/abc",
        }
    )
    answers = [(200, {"code": "RATE_LIMITED"}), (200, {"code": "OK", "message_id": "m-1"})]
    with json_receiver(answers, check_sms) as provider:
        adapter = HttpSmsProvider(provider.url, api_key="sms-key", sign="区社会治理中心")
        channel = SmsChannel(adapter, ReportContacts(engine))
        sender = ChannelSender({"sms": channel}, outbox, {"sms": FAST}, sleep=Sleeps())
        (delivery,) = outbox.accept([link], routing.targets)
        assert delivery.target == "r-sms" and "13912345678" not in str(delivery.payload)
        assert await sender.deliver(delivery) is Outcome.DELIVERED
        (nobody,) = outbox.accept(
            [link.model_copy(update={"id": "n-2", "recipient": "contact:r-none"})],
            routing.targets,
        )
        assert await sender.deliver(nobody) is Outcome.DEAD  # no such report, no phone
    assert provider.problems == []
    first, second = provider.received
    assert first == second  # the same request id on the retry: the provider dedups
    assert first["phone"] == "13912345678" and first["text"].endswith("/f/abc")
    assert first["request_id"] == delivery.id


async def test_the_rate_limit_holds_sends_back():
    clock = [0.0]
    bucket = TokenBucket(rate=2.0, burst=2, clock=lambda: clock[0])
    assert [bucket.wait(), bucket.wait()] == [0.0, 0.0]
    assert bucket.wait() == pytest.approx(0.5)
    clock[0] = 0.5
    assert bucket.wait() == 0.0


def test_notify_rules_name_targets_and_skip_the_rest():
    routing = NotifyRules.load(Path("routing/data/notify.yaml"))
    alert = routing.targets(note())
    assert alert == [Target("email", "duty-office@district.invalid")]
    task = note(recipient="department:zhujian", event="org.gridhub.case.dispatched")
    assert routing.targets(task) == []  # the demo's robot rule is an example only
    link = routing.targets(note(recipient="contact:r-1", event="org.gridhub.feedback.link"))
    assert link == [Target("sms", "r-1")]
    assert routing.targets(note(recipient="reporter:r-1", event="org.gridhub.case.closed")) == []
