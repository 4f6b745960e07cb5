"""The worker's metrics bundle, its per-batch accounting, and the agents feeding
it (Faust ``test_context()``, no broker), on a fresh registry per test."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from schemas import trace
from schemas.cases import CaseEvent, CaseEventType, CaseState, SlaState
from schemas.envelope import encode_structured
from schemas.topics import TopicNames
from sinks.ports import InMemoryCaseSink
from streams.agents.writer_agent import write_with_retry
from streams.app import build_app, register_agents
from streams.codecs import decode_report, encode_case_event, encode_report
from streams.config import StreamConfig, StreamDeps
from streams.logic.casestore import DictCaseStore
from streams.logic.casework import CaseWork, next_event
from streams.logic.intake import normalise
from streams.metrics import (
    CaseCensus,
    StageMeter,
    StreamMetrics,
    case_census,
    partition_of,
    source_kind,
)
from streams.observability import MetricsServer, consumed_topics
from streams.topics import StageTopics, stage_topics
from tests.support.envelopes import report_envelope

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture
def metrics() -> StreamMetrics:
    return StreamMetrics.create(CollectorRegistry())


def value(metrics: StreamMetrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def lifecycle(district: Any) -> list[CaseEvent]:
    """opened + dispatched, then a warning, overdue and closure of that case."""
    work = CaseWork(district, DictCaseStore(), timedelta(hours=1))
    report = normalise(report_envelope(), district, NOW - timedelta(seconds=2))
    opened, dispatched = work.on_report(report).events
    case = dispatched.case
    warned = next_event(
        case, CaseEventType.SUPERVISED, NOW, "system:supervision", {"mark": "warning"}
    )
    overdue = next_event(
        warned.case,
        CaseEventType.ESCALATED,
        NOW,
        "system:supervision",
        {"mark": "overdue"},
        sla_state=SlaState.OVERDUE,
    )
    manual = next_event(overdue.case, CaseEventType.ESCALATED, NOW, "op", {"reason": "x"})
    closed = next_event(
        manual.case,
        CaseEventType.CLOSED,
        case.opened_at + timedelta(hours=3),
        "op",
        state=CaseState.CLOSED,
    )
    return [opened, dispatched, warned, overdue, manual, closed]


def test_case_events_feed_sla_counters_and_both_latencies(metrics, district) -> None:
    events = lifecycle(district)
    priority = events[0].case.priority.value
    metrics.record_case_events(events, NOW)
    assert value(metrics, "gridhub_case_events_total", type="opened") == 1
    assert value(metrics, "gridhub_case_events_total", type="escalated") == 2
    assert value(metrics, "gridhub_sla_warnings_total", priority=priority) == 1
    assert value(metrics, "gridhub_sla_overdue_total", priority=priority) == 1
    for trigger in ("sla_100", "manual"):
        assert value(metrics, "gridhub_case_escalations_total", priority=priority, trigger=trigger)
    assert value(metrics, "gridhub_report_to_case_seconds_count", outcome="opened") == 1
    waited = (NOW - events[0].report.received_at).total_seconds()  # type: ignore[union-attr]
    assert value(metrics, "gridhub_report_to_case_seconds_sum", outcome="opened") == waited
    closure = {"priority": priority}
    assert value(metrics, "gridhub_case_to_closure_seconds_sum", **closure) == 3 * 3600
    assert value(metrics, "gridhub_case_to_closure_seconds_bucket", le="14400.0", **closure) == 1
    assert value(metrics, "gridhub_case_to_closure_seconds_bucket", le="7200.0", **closure) == 0


def record(state: str, priority: str, opened: datetime, sla: str = "on_track") -> dict[str, Any]:
    return {
        "case": {
            "state": state,
            "priority": priority,
            "sla_state": sla,
            "opened_at": opened.isoformat(),
        }
    }


def test_census_counts_only_active_partitions_and_ages_open_cases() -> None:
    a, b = "990101001001-aaaa", "990101001002-bbbb"
    pa, pb = partition_of(a[:12].encode(), 4), partition_of(b[:12].encode(), 4)
    assert pa != pb  # the two communities live on different partitions
    rows = [
        (a, record("open", "P1", NOW - timedelta(minutes=20))),
        (a + "x", record("open", "P1", NOW - timedelta(minutes=5))),
        (b, record("dispatched", "P2", NOW, "overdue")),
        ("ignored", None),
    ]
    everything = case_census(rows, NOW)
    assert everything.counts == {("open", "P1", "on_track"): 2, ("dispatched", "P2", "overdue"): 1}
    assert everything.oldest_open == {"P1": 1200.0}
    only_b = case_census(rows, NOW, active={pb}, partitions=4)
    assert only_b.counts == {("dispatched", "P2", "overdue"): 1}
    assert only_b.oldest_open == {}


def test_census_gauges_reset_combinations_that_disappear(metrics) -> None:
    metrics.set_case_census(CaseCensus({("open", "P1", "on_track"): 3}, {"P1": 90.0}))
    metrics.set_case_census(CaseCensus({("closed", "P1", "on_track"): 1}, {}))
    assert value(metrics, "gridhub_cases", state="open", priority="P1", sla_state="on_track") == 0
    assert value(metrics, "gridhub_cases", state="closed", priority="P1", sla_state="on_track") == 1
    assert value(metrics, "gridhub_open_case_oldest_age_seconds", priority="P1") == 0


def test_partition_of_matches_kafkas_default_partitioner() -> None:
    # The Java client's murmur2 test vectors: 21 -> -973932308, foobar ->
    # -790332482, abc -> 479470107; partition = (hash & 0x7fffffff) % partitions.
    assert partition_of(b"21", 1000) == (-973932308 & 0x7FFFFFFF) % 1000 == 340
    assert partition_of(b"foobar", 1000) == (-790332482 & 0x7FFFFFFF) % 1000
    assert partition_of(b"abc", 1000) == 479470107 % 1000


class FakeEvent:
    def __init__(self, topic: str, timestamp: float) -> None:
        self.message = type("M", (), {"topic": topic, "timestamp": timestamp})()


def test_stage_meter_touches_prometheus_once_per_batch(metrics) -> None:
    meter = StageMeter(metrics, "case")
    batch = [FakeEvent("t.in", datetime.now(UTC).timestamp() - 1.0) for _ in range(3)]
    meter.start(batch)
    meter.sent("t.out", count=2)
    meter.dead_lettered("t.in")
    meter.finish()
    flow = {"stage": "case", "source": "internal"}
    assert value(metrics, "gridhub_events_in_total", topic="t.in", **flow) == 3
    assert value(metrics, "gridhub_events_out_total", topic="t.out", **flow) == 2
    assert value(metrics, "gridhub_events_dead_lettered_total", topic="t.in", **flow) == 1
    assert value(metrics, "gridhub_stage_batch_seconds_count", stage="case") == 1
    assert value(metrics, "gridhub_stage_event_age_seconds_sum", stage="case") >= 1.0


def test_a_meter_without_metrics_does_nothing() -> None:
    meter = StageMeter(None, "case")
    meter.start([FakeEvent("t", 0.0)])
    meter.sent("t")
    meter.finish()
    assert not meter.enabled


def test_source_kind_is_bounded() -> None:
    assert source_kind("org.gridhub.sensor.alarm") == "sensor"
    assert source_kind("com.example.anything") == "other"
    assert source_kind(None) == "unknown"


def test_intake_carries_the_traceparent_into_the_report(district) -> None:
    envelope = report_envelope().model_copy(update={"traceparent": TRACEPARENT})
    report = normalise(envelope, district, NOW)
    assert report.attributes["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    plain = report_envelope()
    assert "trace_id" not in normalise(plain, district, NOW).attributes


# ------------------------------------------------------------------ agents


class Captured:
    def __init__(self) -> None:
        self.sent: dict[str, list[dict[str, Any]]] = {}

    def patch(self, topic: Any, name: str) -> None:
        bucket = self.sent.setdefault(name, [])

        async def send(**kwargs: Any) -> None:
            bucket.append(kwargs)

        topic.send = send


class FailingOnceSink(InMemoryCaseSink):
    failed = False

    def write(self, events: Any) -> Any:
        if not self.failed:
            self.failed = True
            raise RuntimeError("database is down")
        return super().write(events)


CONFIG_FOR_NAMES = StreamConfig(
    app_id="unit-names",
    bootstrap="127.0.0.1:1",
    topics=TopicNames.with_prefix("unit."),
    datadir=Path(),
)


@pytest.fixture
def worker(district, tmp_path: Path, metrics: StreamMetrics):
    config = StreamConfig(
        app_id=f"unit-{tmp_path.name}",
        bootstrap="127.0.0.1:1",  # never contacted: test_context uses in-memory channels
        topics=TopicNames.with_prefix("unit."),
        datadir=tmp_path,
        web_enabled=False,
    )
    app = build_app(config)
    deps = StreamDeps(district=district, sink=FailingOnceSink(), clock=lambda: NOW, metrics=metrics)
    topics: StageTopics = register_agents(app, config, deps)
    app.finalize()
    captured = Captured()
    for name in ("reports", "intake_dlq", "case_events", "command_results"):
        captured.patch(getattr(topics, name), name)
    return app, captured


async def settle() -> None:
    await asyncio.sleep(0.3)


async def test_intake_agent_counts_in_out_and_dead_letters_by_source(worker, metrics) -> None:
    app, captured = worker
    value_, headers = encode_structured(
        report_envelope().model_copy(update={"traceparent": TRACEPARENT})
    )
    async with app.agents["gridhub.intake"].test_context() as agent:
        await agent.put(value_, key=b"k", headers=headers)
        await agent.put(value_, key=b"k", headers=headers)
        await agent.put(b"garbage", key=b"k2", headers=[])
        await settle()
    assert trace.current() == trace.EMPTY  # cleared after the batch
    [report, _] = [decode_report(m["value"]) for m in captured.sent["reports"]]
    assert report.attributes["trace_id"] == TRACEPARENT.split("-")[1]
    stage = {"stage": "intake"}
    assert (
        value(
            metrics,
            "gridhub_events_in_total",
            topic="unit.gridhub.intake",
            source="report",
            **stage,
        )
        == 2
    )  # noqa: E501
    assert (
        value(
            metrics,
            "gridhub_events_in_total",
            topic="unit.gridhub.intake",
            source="unknown",
            **stage,
        )
        == 1
    )  # noqa: E501
    assert (
        value(
            metrics,
            "gridhub_events_out_total",
            topic="unit.gridhub.reports",
            source="report",
            **stage,
        )
        == 2
    )  # noqa: E501
    assert (
        value(
            metrics,
            "gridhub_events_dead_lettered_total",
            topic="unit.gridhub.intake",
            source="unknown",
            **stage,
        )
        == 1
    )  # noqa: E501


async def test_case_agent_counts_outputs_and_case_events(worker, metrics, district) -> None:
    app, captured = worker
    report = normalise(report_envelope(category="garbage"), district, NOW - timedelta(seconds=1))
    async with app.agents["gridhub.cases"].test_context() as agent:
        await agent.put(encode_report(report), key=report.community_code.encode())
        await settle()
    assert len(captured.sent["case_events"]) == 2  # opened + dispatched
    flow = {"stage": "case", "source": "internal"}
    assert value(metrics, "gridhub_events_out_total", topic="unit.gridhub.case-events", **flow) == 2
    assert value(metrics, "gridhub_case_events_total", type="dispatched") == 1
    waited = (NOW - report.received_at).total_seconds()
    assert value(metrics, "gridhub_report_to_case_seconds_sum", outcome="opened") == waited


async def test_writer_agent_times_batches_and_counts_failures(worker, metrics, district) -> None:
    app, _ = worker
    work = CaseWork(district, DictCaseStore(), timedelta(hours=1))
    events = work.on_report(normalise(report_envelope(), district, NOW)).events
    async with app.agents["gridhub.db-writer"].test_context() as agent:
        for event in events:
            encoded, headers = encode_case_event(event)
            await agent.put(encoded, key=event.case_id.encode(), headers=headers)
        await asyncio.sleep(0.6)  # one failed write, then the retry after 0.1 s
    assert value(metrics, "gridhub_db_write_failures_total") == 1
    assert value(metrics, "gridhub_db_write_batch_size_sum") == len(events)
    assert value(metrics, "gridhub_db_write_seconds_count") >= 1


async def test_write_with_retry_without_metrics_still_writes() -> None:
    sink = InMemoryCaseSink()
    await write_with_retry(sink, [])
    assert sink.writes == 1


async def test_worker_serves_health_readiness_and_metrics(worker, metrics) -> None:
    app, _ = worker
    metrics.db_write_failures.inc()
    names = consumed_topics(stage_topics(app, CONFIG_FOR_NAMES))
    server = MetricsServer(app, names, metrics.registry, host="127.0.0.1", port=0)
    client = TestClient(TestServer(server.routes()))
    await client.start_server()
    try:
        health = await client.get("/healthz")
        assert (health.status, await health.json()) == (200, {"status": "ok"})
        ready = await client.get("/readyz")  # no broker, so no assignment
        assert ready.status == 503
        scraped = await client.get("/metrics")
        assert scraped.status == 200
        assert scraped.headers["Content-Type"].startswith("text/plain")
        assert "gridhub_db_write_failures_total 1.0" in await scraped.text()
        openmetrics = await client.get(
            "/metrics", headers={"Accept": "application/openmetrics-text"}
        )
        assert openmetrics.headers["Content-Type"].startswith("application/openmetrics-text")
    finally:
        await client.close()
