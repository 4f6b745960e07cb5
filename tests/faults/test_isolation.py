"""One bad actor must not stall the loop for anyone else: poison and
oversized records, a flood from one system token (rate limit), a slow webhook
receiver. The three share one hub — worker and gateway on their own topics and
database, a real webhook receiver with a slow and a fast path — and use disjoint
categories, so each one's cases are its own. Poison runs last: if it does stall a
partition, the other scenarios are not caught in it."""

from __future__ import annotations

import json
import os
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from gridhub.local.postgres import create_database_at, drop_database_at
from schemas.envelope import (
    INBOUND_TYPES,
    REPORT_SUBMITTED,
    Envelope,
    encode_binary,
    encode_structured,
)
from schemas.topics import TopicNames
from sinks.db import upgrade
from sinks.tokens import TokenStore
from tests.faults import harness
from tests.faults.harness import Paced, Scenario
from tests.fixtures.receiver import Behaviour, Receiver, start_receiver

SECRET = "faults-isolation-secret"
RATE_LIMIT = 20  # requests/s per system principal
SLOW_DELAY_S = 2.0  # the slow receiver answers after this; the worker gives up after 1 s
BROKER_LIMIT = 1_048_588  # the broker's default max.message.bytes
BOUND_S = 45.0  # last event sent -> last expected case


@dataclass
class Stack:
    hub: harness.Hub
    receiver: Receiver
    bootstrap: str
    db_url: str
    tokens: TokenStore
    engine: Engine

    @property
    def topics(self) -> TopicNames:
        return self.hub.env.topics

    def producer(self, **extra: Any) -> Any:
        return harness.kafka_producer(self.bootstrap, **extra)


@pytest.fixture(scope="module")
def stack(
    kafka_bootstrap: str, postgres_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    receiver = start_receiver()
    slow = receiver.url("/slow", Behaviour(delay=SLOW_DELAY_S))
    fast = receiver.url("/fast")
    name = f"faults_{uuid.uuid4().hex[:8]}"
    db_url = create_database_at(postgres_server_url, name)
    base: Path = tmp_path_factory.mktemp("isolation")
    env = harness.hub_env(
        base,
        kafka_bootstrap,
        db_url,
        extra={
            "GRIDHUB_TOKEN_SECRET": SECRET,
            "GRIDHUB_RATE_LIMITS": json.dumps({"system": f"{RATE_LIMIT}/second"}),
            "GRIDHUB_WEBHOOK_SUBSCRIPTIONS": json.dumps(
                {"department:*": slow, "duty_office": fast}
            ),
            "GRIDHUB_WEBHOOK_SECRET": "faults-webhook-secret",
            "GRIDHUB_WEBHOOK_TIMEOUT": "1.0",
            "GRIDHUB_WEBHOOK_MAX_ATTEMPTS": "3",
            "GRIDHUB_WEBHOOK_BASE_DELAY": "0.5",
        },
    )
    hub = harness.Hub(env, kafka_bootstrap)
    engine = harness.engine_for(db_url)
    try:
        upgrade(db_url)
        worker = hub.spawn_worker()
        gateway = hub.spawn_gateway()
        harness.wait_ready(worker, f"http://127.0.0.1:{harness.worker_port(worker)}/readyz", 90)
        harness.wait_ready(gateway, f"{hub.gateway_url}/readyz", 60)
        yield Stack(hub, receiver, kafka_bootstrap, db_url, TokenStore(engine, SECRET), engine)
        for proc in hub.procs:
            assert proc.proc.poll() is None, f"{proc.name} died:\n{proc.log_tail()}"
    finally:
        hub.stop_all()
        engine.dispose()
        receiver.server.shutdown()
        receiver.server.server_close()
        drop_database_at(postgres_server_url, name)
        harness.drop_topics(kafka_bootstrap, env.topics)


def send_all(producer: Any, topic: str, records: list[harness.Record]) -> None:
    for key, value, headers in records:
        producer.send(topic, key=key, value=value, headers=headers)
    producer.flush()


def test_a_flooding_token_is_limited_and_others_are_not(stack: Stack) -> None:
    with harness.recorded(Scenario("flood from one system token")) as scenario:
        flood_source = "urn:test:flood"
        flood_token, _ = stack.tokens.create(
            "system", "faults-flood", scope=flood_source, event_types=INBOUND_TYPES
        )
        phone_token, _ = stack.tokens.create("grid_worker", "faults-phone")
        flood_plan = harness.make_plan(harness.CATEGORIES[3:6], 280, seed=93, resend_every=10**9)
        phone_plan = harness.make_plan(harness.CATEGORIES[6:8], 60, seed=95)
        base = stack.hub.gateway_url

        accepted: list[str] = []
        limited = 0
        retry_after_ok = True
        stop = threading.Event()
        queue = iter(enumerate(flood_plan.order))
        lock = threading.Lock()

        def flood() -> None:
            nonlocal limited, retry_after_ok
            with httpx.Client(base_url=base, timeout=20) as http:
                headers = {
                    "Authorization": f"Bearer {flood_token}",
                    "Content-Type": "application/cloudevents+json",
                }
                while not stop.is_set():
                    with lock:
                        item = next(queue, None)
                    if item is None:
                        return
                    n, planned = item
                    value, _ = encode_structured(
                        flood_plan.envelope(planned, n, source=flood_source)
                    )
                    answer = http.post("/api/v1/events", content=value, headers=headers)
                    with lock:
                        if answer.status_code == 202:
                            accepted.append(planned.report_id)
                        elif answer.status_code == 429:
                            limited += 1
                            retry_after_ok &= bool(answer.headers.get("Retry-After"))
                        else:
                            raise AssertionError(f"flood got {answer.status_code}: {answer.text}")

        latencies: list[float] = []
        phone_status: list[int] = []
        phone_http = httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {phone_token}"}, timeout=20
        )

        def phone_send(item: tuple[int, harness.Planned]) -> None:
            n, planned = item
            started = time.monotonic()
            answer = phone_http.post("/api/v1/reports", json=phone_plan.report_body(planned, n))
            latencies.append(time.monotonic() - started)
            phone_status.append(answer.status_code)

        flooders = [threading.Thread(target=flood, daemon=True) for _ in range(4)]
        for thread in flooders:
            thread.start()
        phones = Paced(list(enumerate(phone_plan.order)), phone_send, 10.0).start()
        try:
            phones.join(120)
        finally:
            stop.set()
            for thread in flooders:
                thread.join(30)
            phone_http.close()
        last_sent = time.monotonic()
        scenario.events_sent = len(accepted) + len(phone_status)
        scenario.notes["flood_202"] = len(accepted)
        scenario.notes["flood_429"] = limited
        scenario.notes["phone_p50_ms"] = round(1000 * statistics.median(latencies))
        scenario.notes["phone_max_ms"] = round(1000 * max(latencies))

        expected = {
            **harness.expected_of(flood_plan, accepted),
            **{rid: 10_000 + g for rid, g in harness.expected_of(phone_plan).items()},
        }
        census, done = harness.settle(stack.engine, expected, BOUND_S + 10)
        harness.fill(scenario, census)
        scenario.recover_s = None if done is None else done - last_sent
        scenario.bound_s = BOUND_S
        assert limited > 0, "the flood was never limited"
        assert retry_after_ok, "a 429 without Retry-After"
        assert set(phone_status) == {202}, phone_status
        assert max(latencies) < 5.0, f"the other token waited {max(latencies):.1f}s"
    scenario.check()


def test_a_slow_webhook_receiver_does_not_hold_up_others(stack: Stack) -> None:
    with harness.recorded(Scenario("slow webhook receiver")) as scenario:
        plan = harness.make_plan(harness.CATEGORIES[8:9], 60, seed=97)  # gas_smell: P1 cases
        producer = stack.producer()
        try:
            send_all(producer, stack.topics.intake, plan.kafka_records())
        finally:
            producer.close()
        last_sent = time.monotonic()
        scenario.events_sent = len(plan.order)
        census, done = harness.settle(stack.engine, harness.expected_of(plan), BOUND_S + 10)
        harness.fill(scenario, census)
        scenario.recover_s = None if done is None else done - last_sent
        scenario.bound_s = BOUND_S

        from sqlalchemy import select

        from sinks.models import reports

        with stack.engine.connect() as conn:
            case_ids = {
                cid
                for (cid,) in conn.execute(
                    select(reports.c.case_id).where(reports.c.id.in_(list(plan.distinct)))
                )
            }

        def told(path: str) -> set[str]:
            return {
                r.headers.get("X-GridHub-Delivery", "").rsplit(":", 1)[-1]
                for r in stack.receiver.delivered(path)
            }

        # The duty office hears of every P1 case promptly, although the department
        # receiver takes 2 s per request and every delivery to it times out.
        try:
            harness.wait_until(lambda: case_ids <= told("/fast"), 30, "every P1 alert delivered")
        finally:
            scenario.notes["p1_delivered"] = len(case_ids & told("/fast"))
            scenario.notes["slow_requests"] = len(stack.receiver.at("/slow"))
            scenario.notes["fast_after_s"] = round(time.monotonic() - last_sent, 1)
        assert stack.receiver.at("/slow"), "the slow receiver was never called"
    scenario.check()


def poison_records() -> list[tuple[str, harness.Record]]:
    """(what, record) for ``gridhub.intake``: every one must end in the DLQ."""

    def event(data: dict[str, object], **attrs: object) -> Envelope:
        return Envelope(
            id=str(uuid.uuid4()),
            source="urn:test:poison",
            type=str(attrs.get("type", REPORT_SUBMITTED)),
            datacontenttype="application/json",
            data=data,
        )

    ufo = encode_structured(
        event({"category": "ufo", "description": "x", "location": {"lat": 39.91, "lon": 116.39}})
    )
    far = encode_binary(
        event({"category": "garbage", "description": "x", "location": {"lat": 10.0, "lon": 10.0}})
    )
    other_type = encode_structured(event({"a": 1}, type="org.example.unknown"))
    return [
        ("not json", (b"k", b"\x00\xff\xfe not json at all", [])),
        ("json, not a CloudEvent", (b"k", b'{"hello": "world"}', [])),
        ("truncated JSON", (b"k", b'{"specversion": "1.0", "id": ', [])),
        ("unknown category", (b"k", *ufo)),
        ("outside every grid", (b"k", *far)),
        ("unknown event type", (b"k", *other_type)),
        ("binary mode without ce_ headers", (b"k", b'{"category": "garbage"}', [])),
        ("oversized garbage (~1 MB)", (b"k", os.urandom(1_000_000), [])),
    ]


def test_poison_and_oversized_records_do_not_stall_the_loop(stack: Stack) -> None:
    with harness.recorded(Scenario("poison + oversized records")) as scenario:
        plan = harness.make_plan(harness.CATEGORIES[0:3], 90, seed=91)
        good = plan.kafka_records()
        poison = poison_records()
        # A valid report whose description alone is ~1 MB: it must become a case
        # (the description clipped) or be dead-lettered with a reason — never vanish.
        huge_id = str(uuid.uuid4())
        lat, lon, _community = harness.lattice()[0]
        huge = Envelope(
            id=huge_id,
            source="urn:test:poison",
            type=REPORT_SUBMITTED,
            datacontenttype="application/json",
            data={
                "category": harness.CATEGORIES[11],  # no other report here uses it
                "description": "x" * (BROKER_LIMIT - 4000),
                "location": {"lat": lat, "lon": lon},
                "report_id": huge_id,
            },
        )
        huge_record = (huge_id.encode(), *encode_structured(huge))
        producer = stack.producer(max_request_size=2 * BROKER_LIMIT)
        third = len(good) // 3
        try:
            send_all(producer, stack.topics.intake, good[:third])
            send_all(producer, stack.topics.intake, [record for _what, record in poison])
            send_all(producer, stack.topics.intake, [huge_record])
            # Garbage on the internal topics too: each stage must skip it and go on.
            internal = [(b"990101001001", b"\x00 not a report", [])]
            send_all(producer, stack.topics.reports, internal)
            send_all(producer, stack.topics.case_commands, internal)
            send_all(producer, stack.topics.case_events, [(b"x", b"\x00 not a case event", [])])
            send_all(producer, stack.topics.notifications, [(b"x", b"\x00 not a notice", [])])
            send_all(producer, stack.topics.intake, good[third:])
        finally:
            producer.close()
        last_sent = time.monotonic()
        scenario.events_sent = len(good) + len(poison) + 1 + 4

        census, done = harness.settle(stack.engine, harness.expected_of(plan), BOUND_S + 10)
        harness.fill(scenario, census)
        scenario.recover_s = None if done is None else done - last_sent
        scenario.bound_s = BOUND_S

        def dead_letters(topic: str) -> list[object]:
            return [
                r
                for r in harness.read_topic(stack.bootstrap, stack.topics.intake_dlq, timeout=30)
                if dict(r.headers).get("gridhub-original-topic") == topic.encode()
            ]

        # Every poison record of the intake is parked with its reason.
        def parked() -> list[object] | None:
            found = dead_letters(stack.topics.intake)
            return found if len(found) >= len(poison) else None

        try:
            letters = harness.wait_until(parked, 30, f"{len(poison)} dead letters")
        except AssertionError:
            letters = dead_letters(stack.topics.intake)
        reasons = [dict(r.headers)["gridhub-error"].decode()[:60] for r in letters]
        scenario.notes["dead_letters"] = len(letters)
        scenario.notes["internal_parked"] = len(dead_letters(stack.topics.reports)) + len(
            dead_letters(stack.topics.case_commands)
        )
        huge_case = harness.take_census(stack.engine, {huge_id: -1})
        huge_parked = any(r.key == huge_id.encode() for r in letters)
        scenario.notes["1MB_report"] = (
            "case" if huge_case.lost == 0 else "dead-lettered" if huge_parked else "MISSING"
        )
        print("dead-letter reasons:", reasons)
        if census.lost:
            print(harness.explain(stack.engine, plan, census))
            group = stack.hub.env.env["GRIDHUB_APP_ID"]
            print(harness.trace_ids(stack.bootstrap, stack.topics, group, census.lost_ids[:3]))
        assert len(letters) == len(poison) + int(huge_parked), reasons
        assert huge_case.lost == 0 or huge_parked, "the 1 MB report vanished"
    scenario.check()
