"""The worker's Prometheus metrics: one typed bundle on an injected registry
(like faust's ``FaustMetrics.create(registry, prefix)``), and the per-batch
accounting the stages use to feed it.

Stages count into plain dictionaries while they handle a batch and touch the
Prometheus objects once per batch (:class:`StageMeter`), so the hot path pays a
dict increment per record, not a lock. Every metric name is listed in
``deploy/README.md`` and used by the alert rules and the dashboard; a unit test
checks that those only name metrics this module (and ``gateway.metrics``) exports.
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)

from schemas.cases import CaseEvent, CaseEventType, CaseSnapshot, CaseState
from schemas.envelope import CAP_ALERT, CITYMGMT_CASE, REPORT_SUBMITTED, SENSOR_ALARM

# Seconds. Explicit buckets, each sized for what it measures.
STAGE_SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
EVENT_AGE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)
REPORT_TO_CASE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
_HOUR = 3600
CLOSURE_BUCKETS = tuple(
    h * _HOUR for h in (0.25, 1, 2, 4, 8, 24, 48, 72, 120, 168, 336, 720)
)  # 15 min .. 30 days
DB_BATCH_SIZE_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000)
DB_WRITE_SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

# The ``source`` label: the kind of inbound event (bounded), never the CloudEvents
# source URI, which may name one device each.
SOURCE_KINDS = {
    REPORT_SUBMITTED: "report",
    CITYMGMT_CASE: "citymgmt",
    SENSOR_ALARM: "sensor",
    CAP_ALERT: "cap",
}
INTERNAL = "internal"  # records between stages
UNKNOWN = "unknown"  # records that could not be decoded far enough to tell


def process_registry() -> CollectorRegistry:
    """A fresh registry with the process and platform collectors (CPU, memory,
    open fds): what the global one would carry, without global state."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    return registry


def source_kind(event_type: str | None) -> str:
    if not event_type:
        return UNKNOWN
    return SOURCE_KINDS.get(event_type, "other")


@dataclass(frozen=True)
class StreamMetrics:
    """Every metric a worker exports, registered on ``registry``."""

    registry: CollectorRegistry
    events_in: Counter
    events_out: Counter
    events_dead_lettered: Counter
    stage_batch_seconds: Histogram
    stage_event_age_seconds: Histogram
    consumer_lag: Gauge
    assigned_partitions: Gauge
    cases: Gauge
    open_case_oldest_age_seconds: Gauge
    case_events: Counter
    sla_warnings: Counter
    sla_overdue: Counter
    escalations: Counter
    report_to_case_seconds: Histogram
    case_to_closure_seconds: Histogram
    db_write_batch_size: Histogram
    db_write_seconds: Histogram
    db_write_failures: Counter
    webhook_deliveries: Counter
    webhook_failures: Counter
    _seen_case_labels: set[tuple[str, str, str]] = field(default_factory=set, repr=False)

    @classmethod
    def create(cls, registry: CollectorRegistry, prefix: str = "gridhub") -> StreamMetrics:
        p = prefix.replace("-", "_").replace(".", "_")
        r = registry
        flow = ["stage", "topic", "source"]
        return cls(
            registry=registry,
            events_in=Counter(f"{p}_events_in", "Records consumed by a stage", flow, registry=r),
            events_out=Counter(f"{p}_events_out", "Records produced by a stage", flow, registry=r),
            events_dead_lettered=Counter(
                f"{p}_events_dead_lettered",
                "Records parked on the DLQ (topic = where they were read)",
                flow,
                registry=r,
            ),
            stage_batch_seconds=Histogram(
                f"{p}_stage_batch_seconds",
                "Time to handle one batch, from take to ack",
                ["stage"],
                buckets=STAGE_SECONDS_BUCKETS,
                registry=r,
            ),
            stage_event_age_seconds=Histogram(
                f"{p}_stage_event_age_seconds",
                "Age of a batch's oldest record (Kafka timestamp) when the stage takes it",
                ["stage"],
                buckets=EVENT_AGE_BUCKETS,
                registry=r,
            ),
            consumer_lag=Gauge(
                f"{p}_consumer_lag",
                "Highwater minus committed offset of an actively assigned partition",
                ["topic", "partition"],
                registry=r,
            ),
            assigned_partitions=Gauge(
                f"{p}_consumer_assigned_partitions",
                "Partitions this worker actively consumes",
                ["topic"],
                registry=r,
            ),
            cases=Gauge(
                f"{p}_cases",
                "Cases held by this worker's active partitions",
                ["state", "priority", "sla_state"],
                registry=r,
            ),
            open_case_oldest_age_seconds=Gauge(
                f"{p}_open_case_oldest_age_seconds",
                "Age of the oldest case still open (not dispatched), 0 when none",
                ["priority"],
                registry=r,
            ),
            case_events=Counter(
                f"{p}_case_events", "Case events emitted by the case agent", ["type"], registry=r
            ),
            sla_warnings=Counter(
                f"{p}_sla_warnings",
                "SLA warnings raised (75 % of the SLA)",
                ["priority"],
                registry=r,
            ),
            sla_overdue=Counter(
                f"{p}_sla_overdue",
                "Cases marked overdue (100 % of the SLA)",
                ["priority"],
                registry=r,
            ),
            escalations=Counter(
                f"{p}_case_escalations",
                "Escalations: trigger sla_100 / sla_150 (supervision) or manual",
                ["priority", "trigger"],
                registry=r,
            ),
            report_to_case_seconds=Histogram(
                f"{p}_report_to_case_seconds",
                "Report received_at to the case event that took it (opened or attached)",
                ["outcome"],
                buckets=REPORT_TO_CASE_BUCKETS,
                registry=r,
            ),
            case_to_closure_seconds=Histogram(
                f"{p}_case_to_closure_seconds",
                "Case opened_at to closed (verified)",
                ["priority"],
                buckets=CLOSURE_BUCKETS,
                registry=r,
            ),
            db_write_batch_size=Histogram(
                f"{p}_db_write_batch_size",
                "Case events per projection write",
                buckets=DB_BATCH_SIZE_BUCKETS,
                registry=r,
            ),
            db_write_seconds=Histogram(
                f"{p}_db_write_seconds",
                "Duration of one successful projection write (one transaction)",
                buckets=DB_WRITE_SECONDS_BUCKETS,
                registry=r,
            ),
            db_write_failures=Counter(
                f"{p}_db_write_failures", "Projection writes that failed (retried)", registry=r
            ),
            webhook_deliveries=Counter(
                f"{p}_webhook_deliveries",
                "Webhook deliveries finished: delivered or dead",
                ["outcome"],
                registry=r,
            ),
            webhook_failures=Counter(
                f"{p}_webhook_failures",
                "Failed webhook attempts: retry (5xx, timeout, network) or refused (4xx)",
                ["reason"],
                registry=r,
            ),
        )

    # ----------------------------------------------------------- case events

    def record_case_events(self, events: Sequence[CaseEvent], now: datetime) -> None:
        """SLA marks, escalations and the two latencies, from one batch's events."""
        by_type: Tally[str] = Tally()
        taken = self.report_to_case_seconds  # one child per outcome and batch, not per event
        opened, attached = taken.labels("opened"), taken.labels("attached")
        for event in events:
            kind = event.type
            by_type[kind.value] += 1
            if kind in _REPORT_TAKEN and event.report is not None:
                seconds = (now - event.report.received_at).total_seconds()
                (opened if kind is CaseEventType.OPENED else attached).observe(max(seconds, 0.0))
            elif kind is CaseEventType.SUPERVISED:
                self.sla_warnings.labels(event.case.priority.value).inc()
            elif kind is CaseEventType.ESCALATED:
                self._escalated(event)
            elif kind is CaseEventType.CLOSED:
                seconds = (event.time - event.case.opened_at).total_seconds()
                self.case_to_closure_seconds.labels(event.case.priority.value).observe(seconds)
        for name, count in by_type.items():
            self.case_events.labels(name).inc(count)

    def _escalated(self, event: CaseEvent) -> None:
        priority = event.case.priority.value
        mark = event.data.get("mark")
        if mark == "overdue":
            self.sla_overdue.labels(priority).inc()
        trigger = _ESCALATION_TRIGGERS.get(str(mark), "manual")
        self.escalations.labels(priority, trigger).inc()

    # ------------------------------------------------------------ case census

    def set_case_census(self, census: CaseCensus) -> None:
        """Replace the case gauges; combinations seen before and gone now read 0."""
        for labels in list(self._seen_case_labels):
            if labels not in census.counts:
                self.cases.labels(*labels).set(0)
        for labels, count in census.counts.items():
            self.cases.labels(*labels).set(count)
            self._seen_case_labels.add(labels)
        for priority in PRIORITIES:
            self.open_case_oldest_age_seconds.labels(priority).set(
                census.oldest_open.get(priority, 0.0)
            )


_REPORT_TAKEN = frozenset({CaseEventType.OPENED, CaseEventType.REPORT_ATTACHED})
_ESCALATION_TRIGGERS = {"overdue": "sla_100", "escalation_150": "sla_150"}
PRIORITIES = ("P1", "P2", "P3", "P4")


# ---------------------------------------------------------------- case census


@dataclass(frozen=True)
class CaseCensus:
    """Cases by (state, priority, sla_state), and the age of the oldest ``open``
    case per priority (a P1 that nobody dispatched is the duty office's alarm)."""

    counts: dict[tuple[str, str, str], int]
    oldest_open: dict[str, float]


def partition_of(key: bytes, partitions: int) -> int:
    """Kafka's default partitioner (murmur2), as the producers that key reports
    and case commands by community code use it."""
    from aiokafka.partitioner import murmur2

    return (int(murmur2(key)) & 0x7FFFFFFF) % partitions


def case_census(cases: Iterable[CaseSnapshot], now: datetime) -> CaseCensus:
    """Count the cases a case agent holds (only its active partitions' cases)."""
    counts: Tally[tuple[str, str, str]] = Tally()
    oldest: dict[str, float] = {}
    for case in cases:
        state, priority = case.state.value, case.priority.value
        counts[(state, priority, case.sla_state.value)] += 1
        if case.state is CaseState.OPEN:
            age = (now - case.opened_at).total_seconds()
            oldest[priority] = max(oldest.get(priority, 0.0), age)
    return CaseCensus(dict(counts), oldest)


# ------------------------------------------------------------ stage accounting


@dataclass
class StageMeter:
    """One stage's per-batch accounting. ``start`` a batch, count what it reads,
    sends and parks, then ``finish``: the Prometheus objects are touched there,
    once per batch. Without metrics every method returns at once."""

    metrics: StreamMetrics | None
    stage: str
    _in: Tally[tuple[str, str]] = field(default_factory=Tally)
    _out: Tally[tuple[str, str]] = field(default_factory=Tally)
    _dead: Tally[tuple[str, str]] = field(default_factory=Tally)
    _case_events: list[CaseEvent] = field(default_factory=list)
    _started: float = 0.0
    _oldest: float | None = None

    @property
    def enabled(self) -> bool:
        return self.metrics is not None

    def start(self, batch: Sequence[Any], *, count_inputs: bool = True) -> None:
        """Begin a batch of Faust events; counts them per topic as ``internal``
        unless the stage counts them itself with :meth:`received`."""
        if self.metrics is None:
            return
        self._in.clear()
        self._out.clear()
        self._dead.clear()
        self._case_events.clear()
        self._started = time.perf_counter()
        self._oldest = None
        if batch:
            stamp = batch[0].message.timestamp
            self._oldest = float(stamp) if stamp else None
            if count_inputs:
                for event in batch:
                    self._in[(event.message.topic, INTERNAL)] += 1

    def received(self, topic: str, source: str) -> None:
        if self.metrics is not None:
            self._in[(topic, source)] += 1

    def sent(self, topic: str, source: str = INTERNAL, count: int = 1) -> None:
        if self.metrics is not None:
            self._out[(topic, source)] += count

    def dead_lettered(self, topic: str, source: str = INTERNAL) -> None:
        if self.metrics is not None:
            self._dead[(topic, source)] += 1

    def case_events(self, events: Sequence[CaseEvent]) -> None:
        if self.metrics is not None:
            self._case_events.extend(events)

    def finish(self, now: datetime | None = None) -> None:
        m = self.metrics
        if m is None:
            return
        stage = self.stage
        m.stage_batch_seconds.labels(stage).observe(time.perf_counter() - self._started)
        if self._oldest is not None:
            m.stage_event_age_seconds.labels(stage).observe(max(time.time() - self._oldest, 0.0))
        for tally, counter in ((self._in, m.events_in), (self._out, m.events_out)):
            for (topic, source), count in tally.items():
                counter.labels(stage, topic, source).inc(count)
        for (topic, source), count in self._dead.items():
            m.events_dead_lettered.labels(stage, topic, source).inc(count)
        if self._case_events and now is not None:
            m.record_case_events(self._case_events, now)
        self._case_events.clear()
