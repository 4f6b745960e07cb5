"""Report-up and webhooks on the real broker: a P1 report in, resolved and verified
by commands, through a real Faust worker process running the case agent (which
decides what each case event reports up) and the webhook agent — the P1 alert
out on the alerts topic, and signed webhooks (one after a retry) at a local
receiver."""

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
from schemas.cases import Action, CaseAction, CaseCommand, CommandResult, Priority
from schemas.envelope import decode_kafka
from sinks.db import make_engine
from sinks.outbox_models import inbox, notification_deliveries
from sinks.webhooks import DELIVERY_HEADER, TIMESTAMP_HEADER, settings_secret, verify
from streams.agents.brief_agent import read_alerts
from streams.codecs import encode_report
from streams.logic.casework import case_id_for
from tests.fixtures.receiver import Behaviour, Receiver, receiver_fixture  # noqa: F401
from tests.fixtures.worker import HubProcess, wait_until
from tests.support.cases import make_report

pytestmark = [pytest.mark.kafka]

GRID = "990101001001001"
LEAD = "shizheng"  # manhole covers in the demo district, no co-department
SECRET = "integration-secret"
WAIT = 90


class Results:
    """The case agent's answers to commands, by command id."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.consumer = KafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            consumer_timeout_ms=500,
            group_id=None,
        )
        self.seen: dict[str, CommandResult] = {}

    def wait_for(self, command_id: str) -> CommandResult:
        def arrived() -> bool:
            for record in self.consumer:
                result = CommandResult.model_validate_json(record.value)
                self.seen[result.command_id] = result
            return command_id in self.seen

        wait_until(arrived, WAIT, f"the answer to {command_id}")
        return self.seen[command_id]


def command(case_id: str, n: int, role: str, scope: str | None, body: CaseAction) -> CaseCommand:
    return CaseCommand(
        command_id=f"it-{case_id}-{n}",
        case_id=case_id,
        actor=f"{role}:it",
        role=role,
        scope=scope,
        time=datetime.now(UTC),
        body=body,
    )


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
    log_path = env.home / "case-worker.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.streams.case_worker"],
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
        env=env.env,
    )
    running.append(HubProcess("case-worker", proc, log_path))

    now = datetime.now(UTC).replace(microsecond=0)
    # P2 by category, P1 by its keyword (坍塌): opened as P1, dispatched by routing.
    report = make_report(
        "r-int-1",
        grid_code=GRID,
        category="manhole_cover",
        at=now,
        description="井盖缺失，路面坍塌",
    )
    case = case_id_for(report)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    producer.send(
        env.topics.reports, key=report.community_code.encode(), value=encode_report(report)
    )
    producer.flush()

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
    assert envelope.id == f"p1_case:{case}"
    assert envelope.subject == GRID
    alert = Alert.model_validate(envelope.data)
    assert (alert.kind, alert.case_id, alert.priority) == (AlertKind.P1_CASE, case, Priority.P1)

    # The department resolves, the duty office verifies: resolved (3), verified + closed (5).
    results = Results(kafka_bootstrap, env.topics.command_results)
    try:
        steps = [
            command(case, 1, "department", LEAD, CaseAction(action=Action.RESOLVE, note="已修复")),
            command(case, 2, "operator", None, CaseAction(action=Action.VERIFY, passed=True)),
        ]
        for step in steps:
            value = step.model_dump_json().encode()
            producer.send(env.topics.case_commands, key=step.partition_key, value=value)
            producer.flush()
            assert results.wait_for(step.command_id).accepted
    finally:
        results.consumer.close()
        producer.close()

    wait_until(
        lambda: receiver.delivered("/duty") and len(receiver.delivered("/reporters")) >= 2,
        WAIT,
        "the duty office and reporter webhooks",
    )
    duty = receiver.at("/duty")
    assert [r.status for r in duty] == [503, 200]  # retried after the 503
    assert {r.headers[DELIVERY_HEADER] for r in duty} == {f"duty_office:p1_case:{case}"}
    reporters = receiver.delivered("/reporters")
    assert sorted(r.headers[DELIVERY_HEADER] for r in reporters) == [
        f"closed:reporter:r-int-1:{case}:5",
        f"resolved:reporter:r-int-1:{case}:3",
    ]
    for request, pattern in [(r, "duty_office") for r in duty] + [
        (r, "reporter:*") for r in reporters
    ]:
        assert verify(settings_secret(SECRET, pattern), request.body, request.headers)
        assert abs(int(request.headers[TIMESTAMP_HEADER]) - now.timestamp()) < 300
    body = orjson.loads(reporters[0].body)
    assert body["recipient"] == "reporter:r-int-1"
    assert body["case_id"] == case

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
        f"duty_office:p1_case:{case}": "delivered",
        f"resolved:reporter:r-int-1:{case}:3": "delivered",
        f"closed:reporter:r-int-1:{case}:5": "delivered",
    }
    # every notification is in an inbox: the department's has no webhook, only the inbox
    assert recipients == [
        f"department:{LEAD}",
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
    assert [a.id for a in alerts] == [f"p1_case:{case}"]
