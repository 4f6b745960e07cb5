"""The agents themselves, without a broker: Faust's ``test_context()`` with the
in-memory store and an in-memory sink (the integration tier runs them on Kafka)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from schemas.cases import CaseEventType
from schemas.envelope import encode_structured
from sinks.db import make_engine, upgrade
from sinks.outbox import Outbox
from sinks.ports import InMemoryCaseSink
from sinks.webhooks import WebhookConfig
from streams.agents.brief_agent import DatabaseBriefs, brief_names
from streams.agents.case_agent import reference_entry
from streams.app import build_app, register_agents
from streams.codecs import decode_case_event, decode_report, encode_case_event, encode_report
from streams.config import NotificationPorts, StreamDeps
from streams.logic.casestore import DictCaseStore
from streams.logic.casework import CaseWork
from streams.logic.intake import normalise
from streams.logic.intake.cap import cap_fold_key
from streams.topics import StageTopics
from tests.support.cap_samples import SENDER, alert_xml, reference, references_only
from tests.support.envelopes import CAP_SOURCE, LATER, cap_envelope, report_envelope
from tests.support.streams import Captured, settle, unit_config


@pytest.fixture
def worker(district, tmp_path: Path):
    config = unit_config(tmp_path)
    app = build_app(config)
    sink = InMemoryCaseSink()
    topics: StageTopics = register_agents(app, config, StreamDeps(district=district, sink=sink))
    app.finalize()
    captured = Captured()
    for name in ("reports", "intake_dlq", "case_events"):
        captured.patch(getattr(topics, name), name)
    return app, sink, captured


async def test_intake_agent_forwards_good_and_dead_letters_bad(worker):
    app, _, captured = worker
    value, headers = encode_structured(report_envelope())
    async with app.agents["gridhub.intake"].test_context() as agent:
        await agent.put(value, key=b"k", headers=headers)
        await agent.put(b"garbage bytes", key=b"k2", headers=[])
        await settle()
    [forwarded] = captured.sent["reports"]
    report = decode_report(forwarded["value"])
    assert forwarded["key"] == report.community_code.encode()
    [dead] = captured.sent["intake_dlq"]
    assert dead["value"] == b"garbage bytes"
    reasons = dict(dead["headers"])
    assert b"not a CloudEvent" in reasons["gridhub-error"]
    assert reasons["gridhub-error-stage"] == b"intake"


async def test_case_agent_opens_once_per_report_id(worker, district):
    app, _, captured = worker
    report = normalise(report_envelope(category="garbage"), district, LATER)
    async with app.agents["gridhub.cases"].test_context() as agent:
        for _ in range(3):
            await agent.put(encode_report(report), key=report.community_code.encode())
        await settle()
    events = [decode_case_event(m["value"]) for m in captured.sent["case_events"]]
    assert [e.type for e in events] == [CaseEventType.OPENED, CaseEventType.DISPATCHED]
    assert {m["key"] for m in captured.sent["case_events"]} == {events[0].case_id.encode()}


async def test_writer_agent_projects_batches_into_the_sink(worker, district):
    app, sink, _ = worker
    reports = [normalise(report_envelope(), district, LATER) for _ in range(5)]
    work = CaseWork(district, DictCaseStore(), timedelta(hours=1))
    events = [event for report in reports for event in work.on_report(report).events]
    async with app.agents["gridhub.db-writer"].test_context() as agent:
        for event in events:
            value, headers = encode_case_event(event)
            await agent.put(value, key=event.case_id.encode(), headers=headers)
        await settle()
    assert len(sink.cases) == 5
    assert len(sink.timeline) == len(events)
    assert sink.writes < len(events)  # batched, not one write per event


def test_register_agents_attaches_every_stage_given_their_ports(district, tmp_path: Path):
    config = unit_config(tmp_path)
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    upgrade(url)
    engine = make_engine(url)
    deps = StreamDeps(
        district=district,
        sink=InMemoryCaseSink(),
        notifications=NotificationPorts(Outbox(engine), WebhookConfig({}, "secret")),
        briefs=DatabaseBriefs(engine, tmp_path / "briefs", brief_names(district)),
    )
    app = build_app(config)
    register_agents(app, config, deps)
    assert set(app.agents) == {
        "gridhub.intake",
        "gridhub.cases",
        "gridhub.hotspots",
        "gridhub.db-writer",
        "gridhub.report-up",
        "gridhub.report-up.alerts",
        "gridhub.webhooks",
    }
    bare = build_app(config)
    register_agents(bare, config, StreamDeps(district=district, sink=InMemoryCaseSink()))
    assert "gridhub.webhooks" not in bare.agents
    engine.dispose()


async def test_intake_places_a_bare_cap_cancel_where_the_case_agent_holds_its_alert(
    worker, district
):
    """The case agent publishes the alert with its case's grid to the global reference
    index; the intake agent places a references-only Cancel there, and dead-letters
    one whose alert nobody knows, naming the references."""
    app, _, captured = worker
    alert = normalise(cap_envelope(alert_xml("YJ-A1")), district, LATER)
    async with app.agents["gridhub.cases"].test_context() as agent:
        await agent.put(encode_report(alert), key=alert.community_code.encode())
        await settle()
    [case_id] = {decode_case_event(m["value"]).case_id for m in captured.sent["case_events"]}
    key = cap_fold_key(CAP_SOURCE, SENDER, "YJ-A1")
    assert app.tables["reference-index"][key] == {"case_id": case_id, "grid_code": alert.grid_code}

    bare = cap_envelope(references_only("Cancel", "YJ-A2", reference("YJ-A1"), note="解除"))
    unknown = cap_envelope(references_only("Cancel", "YJ-A3", reference("YJ-404")))
    async with app.agents["gridhub.intake"].test_context() as agent:
        for event in (bare, unknown):
            value, headers = encode_structured(event)
            await agent.put(value, key=b"yingji", headers=headers)
        await settle()
    [forwarded] = captured.sent["reports"]
    cancel = decode_report(forwarded["value"])
    assert cancel.grid_code == alert.grid_code and forwarded["key"] == alert.community_code.encode()
    assert cancel.attributes["refers_to"] == [key] and cancel.attributes["cancel"] is True
    [dead] = captured.sent["intake_dlq"]
    reason = dict(dead["headers"])["gridhub-error"].decode()
    assert reason == f"data.references: no alert known for {SENDER},YJ-404"


def test_reference_index_values_old_and_new():
    assert reference_entry({"case_id": "c-1", "grid_code": "990101001001001"}) == (
        "c-1",
        "990101001001001",
    )
    assert reference_entry("c-1") == ("c-1", None)  # written before the index kept grids
    assert reference_entry(None) == (None, None)
