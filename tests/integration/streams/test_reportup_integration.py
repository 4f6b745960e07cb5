"""Report-up and webhooks on the real broker: case events in, the P1 alert out on
the alerts topic, and signed webhooks (one after a retry) at a local receiver,
through a real Faust worker process."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from kafka import KafkaConsumer, KafkaProducer
from sqlalchemy import select

from schemas.alerts import ALERT_TYPE_PREFIX, Alert, AlertKind
from schemas.cases import Priority
from schemas.envelope import decode_kafka
from sinks.db import make_engine
from sinks.outbox_models import inbox, notification_deliveries
from sinks.webhooks import DELIVERY_HEADER, TIMESTAMP_HEADER, settings_secret, verify
from streams.agents.brief_agent import read_alerts
from streams.codecs import encode_case_event
from tests.fixtures.receiver import Behaviour, Receiver, receiver_fixture  # noqa: F401
from tests.fixtures.worker import HubProcess, wait_until
from tests.support.cases import CaseStory, make_report

pytestmark = [pytest.mark.kafka]

GRID = "990101001001001"
CASE = f"{GRID[:12]}-0f0f0f0f0f0f"
SECRET = "integration-secret"
WAIT = 90


def story(now: datetime) -> CaseStory:
    report = make_report("r-int-1", grid_code=GRID, category="gas_smell", at=now)
    s = CaseStory.open(CASE, report=report, priority=Priority.P1, at=now)
    s.case = s.case.model_copy(update={"report_ids": [report.id]})
    s.events[0] = s.events[0].model_copy(update={"case": s.case})
    s.dispatch("chengguan")
    s.resolve()
    s.close()
    return s


def test_p1_case_is_alerted_and_webhooks_arrive_signed(
    hub_env, running, kafka_bootstrap, tmp_path, receiver: Receiver
):
    db_url = f"sqlite:///{tmp_path / 'outbox.db'}"
    env = hub_env(db_url)
    hooks = {
        "duty_office": receiver.url("/duty", Behaviour(fail_first=1, fail_status=503)),
        "reporter:*": receiver.url("/reporters"),
    }
    env.env["GRIDHUB_TEST_WEBHOOKS"] = json.dumps(hooks)
    env.env["GRIDHUB_TEST_WEBHOOK_SECRET"] = SECRET
    log_path = env.home / "reportup-worker.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.streams.reportup_worker"],
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
        env=env.env,
    )
    running.append(HubProcess("reportup-worker", proc, log_path))

    now = datetime.now(UTC).replace(microsecond=0)
    events = story(now).events  # opened (P1), dispatched, resolved, closed
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    for event in events:
        value, headers = encode_case_event(event)
        producer.send(env.topics.case_events, key=CASE.encode(), value=value, headers=headers)
    producer.flush()
    producer.close()

    consumer = KafkaConsumer(
        env.topics.alerts,
        bootstrap_servers=kafka_bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=1000,
        group_id=None,
    )
    found: list[tuple[bytes, object]] = []

    def poll() -> bool:
        for record in consumer:
            found.append((record.key, decode_kafka(record.value, record.headers)))
        return bool(found)

    try:
        wait_until(poll, WAIT, "the P1 alert on the alerts topic")
    finally:
        consumer.close()
    [(key, envelope)] = found
    assert key == GRID.encode()
    assert envelope.type == f"{ALERT_TYPE_PREFIX}p1_case"
    assert envelope.id == f"p1_case:{CASE}"
    assert envelope.subject == GRID
    alert = Alert.model_validate(envelope.data)
    assert (alert.kind, alert.case_id, alert.priority) == (AlertKind.P1_CASE, CASE, Priority.P1)

    wait_until(
        lambda: receiver.delivered("/duty") and len(receiver.delivered("/reporters")) >= 2,
        WAIT,
        "the duty office and reporter webhooks",
    )
    duty = receiver.at("/duty")
    assert [r.status for r in duty] == [503, 200]  # retried after the 503
    assert {r.headers[DELIVERY_HEADER] for r in duty} == {f"duty_office:p1_case:{CASE}"}
    reporters = receiver.delivered("/reporters")
    assert sorted(r.headers[DELIVERY_HEADER] for r in reporters) == [
        f"closed:reporter:r-int-1:{CASE}:4",
        f"resolved:reporter:r-int-1:{CASE}:3",
    ]
    for request, pattern in [(r, "duty_office") for r in duty] + [
        (r, "reporter:*") for r in reporters
    ]:
        assert verify(settings_secret(SECRET, pattern), request.body, request.headers)
        assert abs(int(request.headers[TIMESTAMP_HEADER]) - now.timestamp()) < 300
    body = orjson.loads(reporters[0].body)
    assert body["recipient"] == "reporter:r-int-1"
    assert body["case_id"] == CASE

    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            deliveries = dict(
                conn.execute(
                    select(
                        notification_deliveries.c.notification_id, notification_deliveries.c.status
                    )
                ).all()
            )
            recipients = sorted(conn.execute(select(inbox.c.recipient)).scalars())
    finally:
        engine.dispose()
    assert deliveries == {
        f"duty_office:p1_case:{CASE}": "delivered",
        f"resolved:reporter:r-int-1:{CASE}:3": "delivered",
        f"closed:reporter:r-int-1:{CASE}:4": "delivered",
    }
    # every notification is in an inbox: the department's has no webhook, only the inbox
    assert recipients == [
        "department:chengguan",
        "duty_office",
        "reporter:r-int-1",
        "reporter:r-int-1",
    ]

    # the daily brief's reader finds the alert on the topic by time
    alerts = asyncio.run(
        read_alerts(
            kafka_bootstrap, env.topics.alerts, now - timedelta(minutes=5), now + timedelta(hours=1)
        )
    )
    assert [a.id for a in alerts] == [f"p1_case:{CASE}"]
