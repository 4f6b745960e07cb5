"""The governance loop on the real broker: one ``gridhub worker`` process, a
PostgreSQL projection, every stage driven through Kafka (DESIGN.md §2, §3)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from gridhub.local.postgres import create_database_at
from gridhub.topics import create_topics
from schemas.cases import CaseAction, CaseCommand, SuperviseTick
from schemas.envelope import (
    CAP_ALERT,
    CITYMGMT_CASE,
    REPORT_SUBMITTED,
    SENSOR_ALARM,
    Envelope,
    encode_binary,
    encode_structured,
)
from schemas.topics import TopicNames
from sinks.db import make_engine, upgrade
from sinks.queries import CaseQueries
from tests.fixtures.worker import HubEnv, free_port, wait_until
from tests.support.cap_samples import (
    ALERT_XML,
    CANCEL_XML,
    UPDATE_XML,
    alert_xml,
    reference,
    references_only,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

METRE_LAT = 1 / 111_320
WAIT = 60  # seconds; generous for a loaded 2-core machine


@dataclass
class Loop:
    topics: TopicNames
    producer: KafkaProducer
    queries: CaseQueries

    def publish(
        self, type_: str, data: Any, content_type: str = "application/json", binary: bool = False
    ) -> str:
        event_id = str(uuid.uuid4())
        envelope = Envelope(
            id=event_id,
            source="urn:test:loop",
            type=type_,
            time=datetime.now(UTC),
            datacontenttype=content_type,
            data=data,
        )
        value, headers = (encode_binary if binary else encode_structured)(envelope)
        self.producer.send(self.topics.intake, key=event_id.encode(), value=value, headers=headers)
        self.producer.flush()
        return event_id

    def report(self, category: str, lat: float, lon: float, description: str = "现场问题") -> str:
        report_id = str(uuid.uuid4())
        self.publish(
            REPORT_SUBMITTED,
            {
                "category": category,
                "description": description,
                "location": {"lat": lat, "lon": lon},
                "report_id": report_id,
            },
        )
        return report_id

    def command(
        self,
        case_id: str,
        role: str = "operator",
        scope: str | None = None,
        time: datetime | None = None,
        **body: Any,
    ) -> None:
        cmd = CaseCommand(
            command_id=str(uuid.uuid4()),
            case_id=case_id,
            actor=f"{role}:loop-test",
            role=role,
            scope=scope,
            time=time or datetime.now(UTC),
            body=CaseAction.model_validate(body) if body else SuperviseTick(),
        )
        self.producer.send(
            self.topics.case_commands, key=cmd.partition_key, value=cmd.model_dump_json().encode()
        )
        self.producer.flush()

    def case_of(
        self, report_id: str, state: str | None = "dispatched", timeout: float = WAIT
    ) -> dict[str, Any]:
        """The case the report joined, once it is in ``state`` (the opened and
        dispatched events may reach the database in separate batches)."""

        def found() -> dict[str, Any] | None:
            rep = self.queries.get_report(report_id, include_personal=False)
            case = self.queries.get_case(rep["case_id"], True) if rep else None
            return case if case and state in (None, case["state"]) else None

        return wait_until(found, timeout, f"report {report_id} in a {state or ''} case")

    def case_until(self, case_id: str, check, what: str, timeout: float = WAIT) -> dict[str, Any]:
        def ok() -> dict[str, Any] | None:
            case = self.queries.get_case(case_id, include_personal=True)
            return case if case and check(case) else None

        return wait_until(ok, timeout, what)


@pytest.fixture(scope="module")
def loop(kafka_bootstrap: str, postgres_server_url: str, tmp_path_factory) -> Iterator[Loop]:
    prefix = f"loop{uuid.uuid4().hex[:6]}."
    topics = TopicNames.with_prefix(prefix)
    create_topics(kafka_bootstrap, topics.all(), partitions=4, replication=1)
    db_url = create_database_at(postgres_server_url, f"loop_{uuid.uuid4().hex[:8]}")
    upgrade(db_url)
    home: Path = tmp_path_factory.mktemp("loop-home")
    env = HubEnv(
        env={
            **os.environ,
            "GRIDHUB_KAFKA_BOOTSTRAP": kafka_bootstrap,
            "GRIDHUB_TOPIC_PREFIX": prefix,
            "GRIDHUB_APP_ID": f"gridhub-{prefix.strip('.')}",
            "GRIDHUB_DATABASE_URL": db_url,
            "GRIDHUB_HOME": str(home),
            "GRIDHUB_WORKER_WEB_PORT": str(free_port()),
            "GRIDHUB_WORKER_METRICS_PORT": str(free_port()),
        },
        topics=topics,
        db_url=db_url,
        home=home,
    )
    worker = env.spawn("worker")
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", linger_ms=5)
    try:
        hub = Loop(topics, producer, CaseQueries(make_engine(db_url)))
        # Warm-up: the worker has joined its group and the loop answers.
        hub.case_of(hub.report("other", 39.9170, 116.4150), state="open", timeout=120)
        yield hub
    finally:
        producer.close()
        code = worker.stop()
        print(f"--- worker (exit {code}) ---\n{worker.log_tail(80)}")


def test_three_reports_50m_apart_make_one_case_with_heat_3(loop):
    lat, lon = 39.9022, 116.3830  # grid 990101001001001
    ids = [loop.report("garbage", lat + i * 50 * METRE_LAT, lon) for i in range(3)]
    case = loop.case_until(loop.case_of(ids[0])["id"], lambda c: c["report_count"] == 3, "heat 3")
    assert sorted(r["id"] for r in case["reports"]) == sorted(ids)
    assert [t["type"] for t in case["timeline"]].count("report_attached") == 2


def test_same_category_1km_away_is_a_second_case(loop):
    near = loop.case_of(loop.report("street_light", 39.9022, 116.3890))
    far = loop.case_of(loop.report("street_light", 39.9022 + 1000 * METRE_LAT, 116.3890))
    assert near["id"] != far["id"]
    assert near["report_count"] == far["report_count"] == 1


def test_gas_smell_is_p1_and_dispatched(loop):
    case = loop.case_of(loop.report("gas_smell", 39.9070, 116.3890, "楼道有很浓的燃气味"))
    assert case["priority"] == "P1"
    assert case["state"] == "dispatched" and case["lead_department"]
    assert any("燃气" in r or "P1" in r for r in case["priority_reasons"])


def test_department_return_reroutes_elsewhere(loop):
    case = loop.case_of(loop.report("road_damage", 39.9100, 116.3830))
    first = case["lead_department"]
    loop.command(case["id"], role="department", scope=first, action="return", reason="非我单位职责")
    after = loop.case_until(
        case["id"], lambda c: c["lead_department"] not in (None, first), "re-routing"
    )
    assert after["state"] == "dispatched"
    assert [t["type"] for t in after["timeline"]][-2:] == ["returned", "dispatched"]


def test_failed_verification_is_rework_with_a_new_deadline(loop):
    case = loop.case_of(loop.report("garbage", 39.9150, 116.3950))
    dept = case["lead_department"]
    loop.command(case["id"], role="department", scope=dept, action="resolve", note="已清运")
    resolved = loop.case_until(case["id"], lambda c: c["state"] == "resolved", "resolved")
    loop.command(
        case["id"],
        role="grid_worker",
        time=datetime.now(UTC) + timedelta(days=2),
        action="verify",
        passed=False,
        reason="仍有垃圾",
    )
    reworked = loop.case_until(case["id"], lambda c: c["rework_count"] == 1, "rework")
    assert reworked["state"] == "dispatched"
    assert reworked["resolve_by"] > resolved["resolve_by"]


def test_cap_update_and_cancel_follow_their_references(loop):
    loop.publish(CAP_ALERT, ALERT_XML, content_type="application/cap+xml")
    loop.publish(CAP_ALERT, UPDATE_XML, content_type="application/cap+xml", binary=True)

    def alert_case() -> dict[str, Any] | None:
        items, _ = loop.queries.list_cases(category="flooding", limit=50)
        hits = [c for c in items if c["external_ref"] == "YJ-2026-0815-001"]
        return hits[0] if hits and hits[0]["report_count"] == 2 else None

    case = wait_until(alert_case, WAIT, "the CAP alert case with its update")
    loop.publish(CAP_ALERT, CANCEL_XML, content_type="application/cap+xml")
    rejected = loop.case_until(case["id"], lambda c: c["state"] == "rejected", "cancel")
    assert "降雨结束" in rejected["timeline"][-1]["data"]["reason"]


def test_cap_update_and_cancel_with_only_references_follow_the_alert(loop):
    """Emergency systems send Update and Cancel without <info> or area (valid CAP
    1.2): each is placed where its alert's case is and reaches that case."""
    identifier = f"YJ-LOOP-{uuid.uuid4().hex[:8]}"
    loop.publish(CAP_ALERT, alert_xml(identifier), content_type="application/cap+xml")

    def alert_case() -> dict[str, Any] | None:
        items, _ = loop.queries.list_cases(category="flooding", limit=100)
        return next((c for c in items if c["external_ref"] == identifier), None)

    case = wait_until(alert_case, WAIT, "the CAP alert's case")
    update = references_only("Update", f"{identifier}-U", reference(identifier))
    loop.publish(CAP_ALERT, update, content_type="application/cap+xml", binary=True)
    attached = loop.case_until(case["id"], lambda c: c["report_count"] == 2, "the bare update")
    assert [t["type"] for t in attached["timeline"]][-1] == "report_attached"

    cancel = references_only(
        "Cancel", f"{identifier}-C", reference(identifier), note="演练结束，解除预警"
    )
    loop.publish(CAP_ALERT, cancel, content_type="application/cap+xml")
    rejected = loop.case_until(case["id"], lambda c: c["state"] == "rejected", "the bare cancel")
    assert rejected["timeline"][-1]["data"]["reason"] == "演练结束，解除预警"


def test_sla_marks_at_simulated_times(loop):
    case = loop.case_of(loop.report("water_leak", 39.9040, 116.4040))
    opened = datetime.fromisoformat(str(case["timeline"][-1]["time"]))
    resolve_by = case["resolve_by"]
    span = resolve_by - opened

    def at(share: float) -> datetime:
        return opened + span * share

    loop.command(case["id"], time=at(0.5))
    loop.command(case["id"], time=at(0.8))
    warned = loop.case_until(case["id"], lambda c: c["sla_state"] == "warning", "warning")
    assert warned["escalation_level"] == 0
    loop.command(case["id"], time=at(1.05))
    overdue = loop.case_until(case["id"], lambda c: c["sla_state"] == "overdue", "overdue")
    assert overdue["escalation_level"] == 1
    loop.command(case["id"], time=at(1.6))
    final = loop.case_until(case["id"], lambda c: c["escalation_level"] == 2, "escalation")
    marks = [
        t["data"].get("mark") for t in final["timeline"] if t["type"] in ("supervised", "escalated")
    ]
    # Nobody accepted within the response deadline (签收时限): that was raised first.
    assert marks == ["respond_overdue", "warning", "overdue", "escalation_150"]


def test_citymgmt_case_keeps_its_case_number(loop):
    number = f"CG{uuid.uuid4().hex[:10].upper()}"
    loop.publish(
        CITYMGMT_CASE,
        {
            "case_number": number,
            "category_code": "0103",
            "kind": "component",
            "description": "雨水井盖破损",
            "location": {"lat": 39.9122, "lon": 116.4010},
            "occurred_at": datetime.now(UTC).isoformat(),
        },
    )

    def found() -> dict[str, Any] | None:
        items, _ = loop.queries.list_cases(category="manhole_cover", limit=100)
        return next((c for c in items if c["external_ref"] == number), None)

    case = wait_until(found, WAIT, "the 数字城管 case")
    assert case["state"] == "dispatched"


def test_repeated_sensor_alarms_fold_into_one_case(loop):
    device = f"gas-{uuid.uuid4().hex[:6]}"
    for reading in (1200, 1500, 1800):
        loop.publish(
            SENSOR_ALARM,
            {
                "device_id": device,
                "metric": "gas_ppm",
                "reading": reading,
                "threshold": 1000,
                "unit": "ppm",
                "grid_code": "990101002002002",
                "occurred_at": datetime.now(UTC).isoformat(),
            },
        )

    def folded() -> dict[str, Any] | None:
        items, _ = loop.queries.list_cases(
            category="gas_smell", grid_code="990101002002002", limit=100
        )
        hits = [c for c in items if c["report_count"] == 3]
        return hits[0] if hits else None

    case = wait_until(folded, WAIT, "three alarms in one case")
    items, _ = loop.queries.list_cases(category="gas_smell", grid_code="990101002002002")
    assert len(items) == 1 and case["priority"] in ("P1", "P2")


def test_reports_44m_apart_across_a_community_line_make_one_case(loop):
    """东园 and 西园 meet at latitude 39.909: the second report's partition finds
    the first case in the border index and forwards the report to its writer."""
    south = loop.case_of(loop.report("street_light", 39.9088, 116.3845, "路灯不亮"))
    assert south["community_code"] == "990101001001"
    north_id = loop.report("street_light", 39.9092, 116.3845, "路灯坏了")
    joined = loop.case_until(south["id"], lambda c: c["report_count"] == 2, "the join")
    assert north_id in [r["id"] for r in joined["reports"]]
    assert [r["grid_code"][:12] for r in joined["reports"]] == ["990101001001", "990101001002"]
    items, _ = loop.queries.list_cases(category="street_light", grid_code="990101001002001")
    assert not [c for c in items if c["title"] == "路灯坏了"]  # no second case


def test_a_joint_case_worked_by_the_duty_office(loop):
    """DESIGN.md §3's commands on the real broker: a co-department's return, a
    reassigned task, an approved extension, an order answered, the lead's resolve
    once the co task is done; the projection keeps every part (and the replay test
    below rebuilds them)."""
    case = loop.case_of(loop.report("illegal_construction", 39.9135, 116.3990, "违建"))
    case_id, lead = case["id"], case["lead_department"]
    assert [(t["department"], t["role"]) for t in case["tasks"]] == [
        (lead, "lead"),
        ("zhujian", "co"),
    ]

    def step(check, what, **command):
        loop.command(case_id, **command)
        return loop.case_until(case_id, check, what)

    step(
        lambda c: c["tasks"][1]["state"] == "returned",
        "the co return",
        role="department",
        scope="zhujian",
        action="return",
        reason="不涉及住建",
    )
    step(
        lambda c: len(c["tasks"]) == 3,
        "the reassigned task",
        action="reassign",
        task="zhujian",
        department="gongan",
        reason="改派公安",
    )
    until = (case["resolve_by"] + timedelta(days=2)).isoformat()
    step(
        lambda c: len(c["extensions"]) == 1,
        "the extension request",
        role="department",
        scope=lead,
        action="request_extension",
        until=until,
        reason="听证",
    )
    approved = step(
        lambda c: c["extensions"][0]["state"] == "approved",
        "the approval",
        action="decide_extension",
        approved=True,
    )
    assert approved["resolve_by"] > case["resolve_by"]
    reply_by = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    step(
        lambda c: len(c["orders"]) == 1,
        "the order",
        action="order",
        level="重点",
        reply_by=reply_by,
        text="说明进度",
    )
    step(
        lambda c: c["orders"][0]["state"] == "answered",
        "the reply",
        role="department",
        scope=lead,
        action="reply",
        order="o1",
        text="明日拆除",
    )
    step(
        lambda c: c["tasks"][2]["state"] == "done",
        "the co task done",
        role="department",
        scope="gongan",
        action="resolve",
        note="秩序维护完毕",
    )
    done = step(
        lambda c: c["state"] == "resolved",
        "the lead's resolve",
        role="department",
        scope=lead,
        action="resolve",
        note="已拆除",
    )
    assert [t["state"] for t in done["tasks"]] == ["done", "reassigned", "done"]


def table_rows(url: str, table: str) -> list[tuple[Any, ...]]:
    from sqlalchemy import MetaData, select

    engine = make_engine(url)
    meta = MetaData()
    meta.reflect(engine, only=[table])
    tab = meta.tables[table]
    with engine.connect() as conn:
        rows = conn.execute(select(tab).order_by(*tab.primary_key.columns)).all()
    engine.dispose()
    return [tuple(row) for row in rows]


def test_replay_rebuilds_the_same_projection(loop, postgres_server_url, kafka_bootstrap):
    """Runs last in this module: every case event so far, replayed into an empty
    database, gives the same rows as the live projection."""
    from kafka import KafkaConsumer, TopicPartition

    from gridhub.replay import replay
    from sinks.writer import CaseProjectionWriter

    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap)
    topic = loop.topics.case_events
    parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
    on_topic = sum(consumer.end_offsets(parts).values())
    consumer.close()
    live_url = str(loop.queries.engine.url.render_as_string(hide_password=False))
    wait_until(
        lambda: len(table_rows(live_url, "case_events")) == on_topic,
        WAIT,
        "the live projection to catch up with the feed",
    )

    fresh = create_database_at(postgres_server_url, f"replay_{uuid.uuid4().hex[:8]}")
    upgrade(fresh)
    stats = replay(kafka_bootstrap, topic, CaseProjectionWriter(make_engine(fresh)))
    assert stats.events == on_topic and stats.skipped == 0
    for table in (
        "cases",
        "case_events",
        "reports",
        "case_tasks",
        "case_extensions",
        "case_orders",
    ):
        assert table_rows(fresh, table) == table_rows(live_url, table), table
    # The joint case's parts are in the rebuilt projection too.
    assert table_rows(fresh, "case_orders") and table_rows(fresh, "case_extensions")
