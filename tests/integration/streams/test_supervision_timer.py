"""The worker's own supervision timer, for real (DESIGN.md §2 Resolve, §3
Deadlines): a ``gridhub worker`` whose timer looks every second, with the SLA
shortened through settings (``GRIDHUB_SLA_SCALE``: a P1's 4 hours become about
20 s), on the real broker and PostgreSQL. Nobody sends a tick: the response,
resolve, co-task, verification and order-reply deadlines are raised by the
timer alone, and the notifications climb — level 1 to the duty office, level 2
to the leaders. The calendar watch tells the duty office of a provisional year
on its own timer too."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kafka import KafkaProducer

from routing.district import District
from routing.sla import LOCAL_TZ, missing_schedule_warning
from schemas.cases import CaseAction, CaseCommand
from schemas.envelope import REPORT_SUBMITTED, Envelope, encode_structured
from sinks.db import make_engine, upgrade
from sinks.queries import CaseQueries
from tests.fixtures.worker import wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

SLA_SCALE = 0.0015  # P1: respond 0.5 h -> 2.7 s, resolve 4 h -> 21.6 s, verify 2 h -> 10.8 s
WAIT = 120


def test_the_timer_raises_every_deadline_by_itself(
    hub_env, postgres_url, kafka_bootstrap, running
) -> None:
    upgrade(postgres_url)
    env = hub_env(postgres_url)
    running.append(
        env.spawn(
            "worker",
            GRIDHUB_SUPERVISION_SECONDS="1",
            GRIDHUB_SLA_SCALE=str(SLA_SCALE),
            GRIDHUB_CALENDAR_CHECK_SECONDS="1",
        )
    )
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    queries = CaseQueries(make_engine(postgres_url))

    def report(lat: float, lon: float) -> str:
        report_id = str(uuid.uuid4())
        envelope = Envelope(
            id=report_id,
            source="urn:test:timer",
            type=REPORT_SUBMITTED,
            time=datetime.now(UTC),
            datacontenttype="application/json",
            data={
                "category": "gas_smell",  # P1: the gas company leads, 应急 (yingji) helps
                "description": "楼道燃气味",
                "location": {"lat": lat, "lon": lon},
                "report_id": report_id,
            },
        )
        value, headers = encode_structured(envelope)
        producer.send(env.topics.intake, key=report_id.encode(), value=value, headers=headers)
        producer.flush()
        return report_id

    def command(case_id: str, role: str, scope: str | None = None, **body: Any) -> None:
        cmd = CaseCommand(
            command_id=str(uuid.uuid4()),
            case_id=case_id,
            actor=f"{role}:{scope or 'timer-test'}",
            role=role,
            scope=scope,
            time=datetime.now(UTC),
            body=CaseAction.model_validate(body),
        )
        producer.send(
            env.topics.case_commands, key=cmd.partition_key, value=cmd.model_dump_json().encode()
        )
        producer.flush()

    def case_of(report_id: str) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            rep = queries.get_report(report_id, include_personal=False)
            case = queries.get_case(rep["case_id"], True) if rep else None
            return case if case and case["state"] == "dispatched" else None

        return wait_until(found, WAIT, f"the case of report {report_id}")

    try:
        # Left alone: nobody accepts, nobody answers the order.
        idle = case_of(report(39.9070, 116.3890))
        reply_by = datetime.now(UTC) + timedelta(seconds=4)
        command(
            idle["id"], "operator", action="order", level="挂牌", reply_by=reply_by, text="限期答复"
        )
        # Done quickly, then nobody verifies it on site.
        fixed = case_of(report(39.9150, 116.3950))
        command(fixed["id"], "department", "yingji", action="resolve", note="疏散完毕")
        command(fixed["id"], "department", "gas_company", action="resolve", note="已关阀修复")

        def marks(case_id: str) -> list[tuple[str, str | None, int]]:
            case = queries.get_case(case_id, False) or {"timeline": []}
            return [
                (e["type"], e["data"].get("mark"), e["data"].get("escalation_level", 0))
                for e in case["timeline"]
                if e["type"] in ("supervised", "escalated")
            ]

        expected = {
            "respond_overdue",
            "warning",
            "overdue",
            "escalation_150",
            "task_overdue",
            "order_overdue",
        }
        wait_until(
            lambda: expected <= {m for _, m, _ in marks(idle["id"])},
            WAIT,
            f"every mark of the idle case (so far {marks(idle['id'])})",
        )
        wait_until(
            lambda: ("supervised", "verify_overdue", 0) in marks(fixed["id"]),
            WAIT,
            "the verification deadline of the resolved case",
        )
        idle_now = queries.get_case(idle["id"], False)
        assert idle_now is not None and idle_now["escalation_level"] == 2
        assert idle_now["sla_state"] == "overdue"
        respond = [m for t, m, _ in marks(idle["id"]) if m == "respond_overdue"]
        assert len(respond) == 2  # the lead's task and the co-department's
        # Each mark once, however many ticks passed.
        assert len(marks(idle["id"])) == len({(t, m) for t, m, _ in marks(idle["id"])}) + 1

        def inbox(recipient: str) -> list[dict[str, Any]]:
            return queries.inbox([recipient], limit=200)

        def kinds(recipient: str, case_id: str) -> set[str]:
            return {
                str(n["event_type"]).rsplit(".", 1)[-1]
                for n in inbox(recipient)
                if n["case_id"] == case_id
            }

        duty = {"respond_overdue", "escalation", "task_overdue", "order_overdue"}
        wait_until(
            lambda: duty <= kinds("duty_office", idle["id"]),
            WAIT,
            f"the duty office's notifications (so far {kinds('duty_office', idle['id'])})",
        )
        wait_until(lambda: "verify_overdue" in kinds("duty_office", fixed["id"]), WAIT, "verify")

        def escalations(recipient: str) -> list[int]:
            return sorted(
                n["data"]["detail"]["escalation_level"]
                for n in inbox(recipient)
                if n["case_id"] == idle["id"] and n["event_type"].endswith("escalation")
            )

        # Notifications trail the timeline (report-up, then the outbox): wait for them.
        wait_until(lambda: escalations("duty_office") == [1, 2], WAIT, "both escalations")
        wait_until(lambda: escalations("leaders") == [2], WAIT, "level 2 at the leaders")
        # Level 1 stayed with the duty office; the leaders hear of level 2 and the 挂牌 order.
        wait_until(
            lambda: kinds("leaders", idle["id"]) == {"escalation", "order_overdue"},
            WAIT,
            f"the leaders' notifications (so far {kinds('leaders', idle['id'])})",
        )
        # The 75 % warning is the lead's alone (督办 addressed to it).
        warned = wait_until(
            lambda: [
                n
                for n in inbox("department:gas_company")
                if n["case_id"] == idle["id"] and "督办预警" in str(n["body"])
            ],
            WAIT,
            "the warning at the lead department",
        )
        assert warned and not [n for n in inbox("duty_office") if "sla_warning" in n["event_type"]]

        # The calendar watch: a notice today exactly when a schedule is missing.
        today = datetime.now(LOCAL_TZ).date()
        warning = missing_schedule_warning(District.load().calendar, today)
        calendar_id = f"calendar:{today.isoformat()}"
        if warning is None:
            assert not [n for n in inbox("duty_office") if n["notification_id"] == calendar_id]
        else:
            [notice] = wait_until(
                lambda: [n for n in inbox("duty_office") if n["notification_id"] == calendar_id],
                WAIT,
                "the calendar notice",
            )
            assert notice["body"] == warning
    finally:
        producer.close()
        queries.engine.dispose()
