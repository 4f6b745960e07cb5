"""Webhooks against a real HTTP receiver on 127.0.0.1: Standard Webhooks
signing (checked against the convention's own test vector and its reference
library), retry with back-off, dead letters, idempotency, and a slow receiver
not holding up others.
(The outbox runs on a migrated SQLite file here; tests/integration/sinks runs
it on both databases.)"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy import Engine
from standardwebhooks.webhooks import WebhookVerificationError

from gridhub.local.processes import free_port
from schemas.alerts import Notification
from sinks.db import make_engine, upgrade
from sinks.outbox import NO_SUBSCRIPTION, Outbox
from sinks.webhooks import (
    DELIVERY_HEADER,
    ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Outcome,
    WebhookConfig,
    WebhookSender,
    classify,
    new_secret,
    settings_secret,
    signature,
    signed_request,
    verify,
)
from tests.fixtures.receiver import Behaviour, Receiver, receiver_fixture  # noqa: F401

SECRET = "s3cret-for-tests"
T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'outbox.db'}"
    upgrade(url)
    eng = make_engine(url)
    yield eng
    eng.dispose()


def note(n: int | str, recipient: str = "department:chengguan", channel: str = "app"):
    return Notification(
        id=f"dispatched:{recipient}:case-{n}:2",
        recipient=recipient,
        channel=channel,
        time=T0,
        case_id=f"case-{n}",
        event_type="org.gridhub.case.dispatched",
        subject=f"新派遣任务 {n}",
        body="请按时限处置",
        data={"case_id": f"case-{n}"},
    )


def config(subscriptions: dict[str, str], **kw) -> WebhookConfig:
    defaults = {"max_attempts": 3, "base_delay": 0.01, "timeout": 1.0, "max_delay": 0.05}
    return WebhookConfig(subscriptions=subscriptions, secret=SECRET, **(defaults | kw))


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


# -- signing -----------------------------------------------------------------------------


def receiver_secret(pattern: str = "department:*") -> str:
    """What a receiver of a settings' subscription is given (gridhub webhooks secret)."""
    return settings_secret(SECRET, pattern)


def test_signature_matches_the_standard_webhooks_test_vector():
    # The vector of the Standard Webhooks reference libraries' tests.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    sig = signature([secret], "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
    assert sig == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_reference_library_verifies_ours_and_refuses_replays_and_others():
    secret, other = new_secret(), new_secret()
    assert secret.startswith("whsec_") and secret != other
    payload = note(1).model_dump(mode="json")
    body, headers = signed_request(payload, [secret])
    assert verify(secret, body, headers) == orjson.loads(body)
    with pytest.raises(WebhookVerificationError):
        verify(other, body, headers)  # another receiver's secret cannot sign for this one
    with pytest.raises(WebhookVerificationError):
        verify(secret, body + b" ", headers)
    # The timestamp is signed: replaying later with a fresh one fails...
    with pytest.raises(WebhookVerificationError):
        verify(secret, body, {**headers, TIMESTAMP_HEADER: str(int(time.time()) + 5)})
    # ...and an old one is refused as too old.
    old_body, old_headers = signed_request(payload, [secret], now=time.time() - 3600)
    with pytest.raises(WebhookVerificationError, match="too old"):
        verify(secret, old_body, old_headers)


def test_two_active_secrets_both_verify_while_rotating():
    old, new = new_secret(), new_secret()
    body, headers = signed_request({"id": "n-1"}, [new, old])
    assert len(headers[SIGNATURE_HEADER].split(" ")) == 2
    assert verify(old, body, headers) == {"id": "n-1"}
    assert verify(new, body, headers) == {"id": "n-1"}


def test_signed_request_headers():
    payload = note(1).model_dump(mode="json")
    body, headers = signed_request(payload, [receiver_secret()], now=1_764_000_000.7)
    assert orjson.loads(body) == payload
    assert headers[SIGNATURE_HEADER] == signature(
        [receiver_secret()], payload["id"], 1_764_000_000, body
    )
    assert headers[TIMESTAMP_HEADER] == "1764000000"
    assert headers[ID_HEADER] == headers[DELIVERY_HEADER] == payload["id"]
    assert headers["Content-Type"] == "application/json"


def test_settings_subscriptions_each_have_their_own_secret():
    assert receiver_secret("department:*") != receiver_secret("duty_office")
    assert receiver_secret("duty_office") == settings_secret(SECRET, "duty_office")


def test_subscriptions_exact_first_then_patterns_in_order():
    cfg = config(
        {
            "department:*": "http://127.0.0.1:1/departments",
            "department:zhujian": "http://127.0.0.1:1/zhujian",
            "*": "http://127.0.0.1:1/all",
        }
    )
    assert cfg.url_for("department:zhujian").endswith("/zhujian")
    assert cfg.url_for("department:huanbao").endswith("/departments")
    assert cfg.url_for("duty_office").endswith("/all")
    assert config({"duty_office": "http://127.0.0.1:1/x"}).url_for("reporter:r-1") is None


@pytest.mark.parametrize(
    ("subscriptions", "kw", "message"),
    [
        ({"x": "http://h/"}, {"secret": ""}, "secret"),
        ({"x": "ftp://h/"}, {}, "http"),
        ({}, {"max_attempts": 0}, ">= 1"),
        ({}, {"stale_after": 1.0}, "stale_after"),
    ],
)
def test_config_refuses_unsafe_or_broken_settings(subscriptions, kw, message):
    args = {"subscriptions": subscriptions, "secret": SECRET} | kw
    with pytest.raises(ValueError, match=message):
        WebhookConfig(**args)


def test_exponential_backoff_capped():
    cfg = WebhookConfig({}, SECRET, base_delay=0.5, max_delay=3.0, jitter=0.0)
    assert [cfg.retry_delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    jittery = WebhookConfig({}, SECRET, base_delay=1.0, jitter=0.1)
    assert jittery.retry_delay(1, rand=lambda: 1.0) == pytest.approx(1.1)
    assert jittery.retry_delay(3, rand=lambda: 0.0) == 4.0


def test_status_classification():
    assert classify(200) is Outcome.DELIVERED
    assert classify(204) is Outcome.DELIVERED
    for code in (500, 502, 503, 408, 429):
        assert classify(code) is Outcome.RETRY
    for code in (301, 400, 401, 404, 410):
        assert classify(code) is Outcome.REFUSED


# -- delivery against a real receiver -------------------------------------------------------


async def test_flaky_receiver_is_retried_with_backoff_until_delivered(engine, receiver: Receiver):
    url = receiver.url("/flaky", Behaviour(fail_first=2, fail_status=503))
    cfg = config({"department:*": url}, max_attempts=5, base_delay=0.5, max_delay=10, jitter=0)
    outbox = Outbox(engine)
    [delivery] = outbox.accept([note(1)], cfg.url_for)
    sleeps = Sleeps()
    sender = WebhookSender(cfg, outbox, sleep=sleeps)
    try:
        assert await sender.deliver(delivery) is Outcome.DELIVERED
    finally:
        await sender.aclose()
    assert sleeps.delays == [0.5, 1.0]  # after the 1st and 2nd failure
    got = receiver.at("/flaky")
    assert [r.status for r in got] == [503, 503, 200]
    for request in got:
        assert verify(receiver_secret(), request.body, request.headers)
        assert request.headers[DELIVERY_HEADER] == note(1).id
        assert abs(int(request.headers[TIMESTAMP_HEADER]) - time.time()) < 60
        assert orjson.loads(request.body)["subject"] == "新派遣任务 1"
    row = outbox.delivery(note(1).id)
    assert row is not None
    assert (row["status"], row["attempts"], row["url"]) == ("delivered", 3, url)
    assert "HTTP 503" in row["last_error"]


async def test_failing_receiver_is_dead_lettered_after_max_attempts(engine, receiver: Receiver):
    url = receiver.url("/down", Behaviour(status=500))
    cfg = config({"department:*": url}, max_attempts=4)
    outbox = Outbox(engine)
    [delivery] = outbox.accept([note(1)], cfg.url_for)
    sleeps = Sleeps()
    sender = WebhookSender(cfg, outbox, sleep=sleeps)
    try:
        assert await sender.deliver(delivery) is Outcome.DEAD
    finally:
        await sender.aclose()
    assert len(receiver.at("/down")) == 4
    assert len(sleeps.delays) == 3
    row = outbox.delivery(note(1).id)
    assert row["status"] == "dead"
    assert row["attempts"] == 4
    assert row["last_error"].startswith("HTTP 500")
    assert row["payload"] == note(1).model_dump(mode="json")  # kept for a re-send


async def test_a_refusal_is_not_retried(engine, receiver: Receiver):
    url = receiver.url("/refuse", Behaviour(status=400))
    cfg = config({"department:*": url})
    outbox = Outbox(engine)
    [delivery] = outbox.accept([note(1)], cfg.url_for)
    sender = WebhookSender(cfg, outbox, sleep=Sleeps())
    try:
        assert await sender.deliver(delivery) is Outcome.DEAD
    finally:
        await sender.aclose()
    assert len(receiver.at("/refuse")) == 1
    assert outbox.delivery(note(1).id)["attempts"] == 1


async def test_connection_errors_and_timeouts_are_retried_then_dead(engine, receiver: Receiver):
    refused = f"http://127.0.0.1:{free_port()}/hook"
    slow = receiver.url("/slow", Behaviour(delay=1.0))
    cfg = config(
        {"department:a": refused, "department:b": slow}, max_attempts=2, timeout=0.2, max_delay=0.01
    )
    outbox = Outbox(engine)
    deliveries = outbox.accept([note(1, "department:a"), note(2, "department:b")], cfg.url_for)
    sender = WebhookSender(cfg, outbox)
    try:
        outcomes = await asyncio.gather(*(sender.deliver(d) for d in deliveries))
    finally:
        await sender.aclose()
    assert outcomes == [Outcome.DEAD, Outcome.DEAD]
    first = outbox.delivery(note(1, "department:a").id)
    second = outbox.delivery(note(2, "department:b").id)
    assert (first["attempts"], second["attempts"]) == (2, 2)
    assert "ConnectError" in first["last_error"]
    assert "timeout" in second["last_error"]
    assert len(receiver.at("/slow")) == 2


async def test_a_slow_receiver_does_not_hold_up_the_others(engine, receiver: Receiver):
    slow = receiver.url("/slow", Behaviour(delay=1.5))
    fast = receiver.url("/fast")
    cfg = config(
        {"duty_office": slow, "department:*": fast},
        concurrency=3,
        per_url_concurrency=1,
        timeout=5.0,
    )
    outbox = Outbox(engine)
    slow_notes = [note(n, "duty_office") for n in range(3)]
    fast_notes = [note(n, f"department:d{n}") for n in range(10)]
    deliveries = outbox.accept([*slow_notes, *fast_notes], cfg.url_for)
    assert len(deliveries) == 13
    sender = WebhookSender(cfg, outbox)
    started = time.monotonic()
    try:
        assert sender.submit(deliveries) == 13
        assert sender.submit(deliveries) == 0  # already in flight: not started twice

        async def fast_done() -> None:
            while len(receiver.delivered("/fast")) < 10:
                await asyncio.sleep(0.02)

        await asyncio.wait_for(fast_done(), timeout=1.2)
        fast_elapsed = time.monotonic() - started
        assert len(receiver.at("/slow")) == 1  # one at a time to the slow one
        await asyncio.wait_for(sender.drain(), timeout=10)
    finally:
        await sender.aclose()
    assert fast_elapsed < 1.2, fast_elapsed  # before the first slow answer
    assert len(receiver.delivered("/slow")) == 3
    assert time.monotonic() - started >= 4.5  # the slow ones, serially
    statuses = {outbox.delivery(n.id)["status"] for n in [*slow_notes, *fast_notes]}
    assert statuses == {"delivered"}


async def test_delivered_notifications_are_not_sent_again(engine, receiver: Receiver):
    url = receiver.url("/ok")
    cfg = config({"department:*": url})
    outbox = Outbox(engine)
    sender = WebhookSender(cfg, outbox)
    try:
        sender.submit(outbox.accept([note(1), note(2)], cfg.url_for))
        await sender.drain()
        # the same notifications again (a replay), plus a new one
        again = outbox.accept([note(1), note(2), note(3)], cfg.url_for)
        assert [d.notification_id for d in again] == [note(3).id]
        sender.submit(again)
        await sender.drain()
    finally:
        await sender.aclose()
    assert sorted(r.headers[DELIVERY_HEADER] for r in receiver.at("/ok")) == sorted(
        [note(1).id, note(2).id, note(3).id]
    )


def test_outbox_writes_the_inbox_and_dead_letters_unsubscribed_webhooks(engine):
    cfg = config({"duty_office": "http://127.0.0.1:1/duty"})
    outbox = Outbox(engine)
    notes = [
        note(1, "reporter:r-1"),
        note(2, "duty_office"),
        note(3, "webhook:crm", channel="webhook"),
        note(1, "reporter:r-1"),  # a repeat in the same batch
    ]
    deliveries = outbox.accept(notes, cfg.url_for, now=T0)
    assert [d.notification_id for d in deliveries] == [note(2, "duty_office").id]
    assert [m["subject"] for m in outbox.inbox_for("reporter:r-1")] == ["新派遣任务 1"]
    assert [m["recipient"] for m in outbox.inbox_for("duty_office")] == ["duty_office"]
    assert outbox.inbox_for("webhook:crm") == []  # webhook channel: no inbox
    dead = outbox.delivery(note(3, "webhook:crm", channel="webhook").id)
    assert (dead["status"], dead["last_error"], dead["url"]) == ("dead", NO_SUBSCRIPTION, "")
    assert outbox.delivery(note(1, "reporter:r-1").id) is None  # no subscription, app: inbox only


async def test_orphaned_pending_deliveries_are_resumed_by_the_sweep(engine, receiver: Receiver):
    url = receiver.url("/ok")
    cfg = config({"department:*": url})
    outbox = Outbox(engine)
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    assert len(outbox.accept([note(1)], cfg.url_for, now=long_ago)) == 1  # then the worker died
    # fresh pending rows are someone else's work: neither accepted again nor swept
    outbox.accept([note(2)], cfg.url_for)
    assert outbox.accept([note(2)], cfg.url_for) == []
    stale = outbox.claim_stale(stale_after=cfg.stale_after)
    assert [d.notification_id for d in stale] == [note(1).id]
    assert outbox.claim_stale(stale_after=cfg.stale_after) == []  # claimed: not twice
    sender = WebhookSender(cfg, outbox)
    try:
        sender.submit(stale)
        await sender.drain()
    finally:
        await sender.aclose()
    assert [r.headers[DELIVERY_HEADER] for r in receiver.at("/ok")] == [note(1).id]
    assert outbox.delivery(note(1).id)["status"] == "delivered"


async def test_one_cases_notifications_go_out_in_order_even_across_a_retry(
    engine, receiver: Receiver
):
    """A source system files each status change of its case in order: the first
    notification is retried before the next of the same case is sent."""
    url = receiver.url("/ordered", Behaviour(fail_first=2, fail_status=503))
    cfg = config({"system:*": url}, max_attempts=5, jitter=0)
    outbox = Outbox(engine)
    versions = [
        note(1, recipient="system:urn:system:citymgmt").model_copy(
            update={"id": f"v{v}", "data": {"case_id": "case-1", "version": v}}
        )
        for v in (2, 3, 4)
    ]
    deliveries = outbox.accept(versions, cfg.url_for)
    sender = WebhookSender(cfg, outbox, sleep=Sleeps())
    try:
        assert sender.submit(deliveries) == 3
        await sender.drain()
    finally:
        await sender.aclose()
    delivered = [orjson.loads(r.body)["data"]["version"] for r in receiver.delivered("/ordered")]
    assert delivered == [2, 3, 4]
    assert [r.status for r in receiver.at("/ordered")] == [503, 503, 200, 200, 200]
    assert len(sender._order) == 0  # no lock kept for a key nobody waits on
