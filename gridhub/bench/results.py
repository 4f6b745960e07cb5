"""What a bench run measured, and the table it prints.

The run's settings (:class:`BenchConfig`), its figures per phase (:class:`PipelineRun`
with :class:`StageRate` per stage, :class:`LatencyRun`, :class:`BenchResult`), the
JSON of DESIGN.md §9 (:meth:`BenchResult.to_json`) and :func:`render`, the table that
sets each figure beside its target. Plain data and arithmetic: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# DESIGN.md §9.
TARGET_PIPELINE_EPS = 10_000.0
TARGET_RATIO = 0.5
TARGET_P50_MS = 50.0
TARGET_P99_MS = 250.0


class BenchError(RuntimeError):
    """A phase could not be measured (a process died, events went missing, a timeout)."""


@dataclass(frozen=True)
class BenchConfig:
    events: int = 20_000
    rate: float = 500.0
    latency_seconds: float = 5.0
    postgres_url: str | None = None  # a server URL whose user may CREATE DATABASE
    bootstrap: str | None = None
    partitions: int = 4
    seed: int = 1
    keep_logs: Path | None = None  # copy worker/gateway logs here at the end

    def __post_init__(self) -> None:
        if self.events < 1 or self.rate <= 0 or self.latency_seconds <= 0:
            raise ValueError("events, rate and latency seconds must be positive")

    stall_seconds: float = 120.0  # a phase whose counters stop moving this long fails

    @property
    def phase_timeout(self) -> float:
        """Generous (25 events/s): a slow pipeline is still measured; a stuck one
        ends after ``stall_seconds`` without progress."""
        return 300.0 + self.events / 25.0


@dataclass
class StageRate:
    """One stage's output over the pipeline phase, from the sampled counters."""

    name: str
    records: int
    first: float | None  # seconds after the worker spawned
    last: float | None

    @property
    def rate(self) -> float:
        if self.first is None or self.last is None or self.last <= self.first:
            return 0.0
        return self.records / (self.last - self.first)


@dataclass
class PipelineRun:
    backend: str
    events: int
    spawned_at: float
    ready_at: float | None
    first_row_at: float
    done_at: float
    cases: int
    stages: list[StageRate] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)  # % of one core, while it ran
    topic_records: dict[str, int] = field(default_factory=dict)  # records per topic, at the end

    @property
    def eps(self) -> float:
        """Sustained: N reports / (N-th row - first row)."""
        return self.events / max(self.done_at - self.first_row_at, 1e-6)

    @property
    def eps_from_ready(self) -> float | None:
        if self.ready_at is None or self.done_at <= self.ready_at:
            return None
        return self.events / (self.done_at - self.ready_at)

    @property
    def startup(self) -> float | None:
        return None if self.ready_at is None else self.ready_at - self.spawned_at


@dataclass
class LatencyRun:
    rate: float
    seconds: float
    sent: int
    accepted: int
    seen: int
    failed: int
    unfinished: int
    retried: int
    first_failure: str
    achieved_rate: float
    latencies_ms: list[float]
    http_ms: list[float]
    cpu: dict[str, float] = field(default_factory=dict)  # % of one core, incl. warm-up
    backlog_wait: float = 0.0  # seconds waited for the worker to be idle first
    backlog_left: int = 0  # records it was still behind when the latency started

    @property
    def p50(self) -> float:
        return percentile(self.latencies_ms, 50)

    @property
    def p99(self) -> float:
        return percentile(self.latencies_ms, 99)


@dataclass
class BenchResult:
    events: int
    baseline_eps: float
    pipelines: dict[str, PipelineRun]
    latency: LatencyRun
    machine: dict[str, Any]

    @property
    def ratio(self) -> float:
        return self.pipelines["postgresql"].eps / self.baseline_eps if self.baseline_eps else 0.0

    def to_json(self) -> dict[str, Any]:
        """Exactly the keys of DESIGN.md §9."""
        return {
            "baseline_eps": round(self.baseline_eps, 1),
            "pipeline_eps": {
                "postgresql": round(self.pipelines["postgresql"].eps, 1),
                "sqlite": round(self.pipelines["sqlite"].eps, 1),
            },
            "ratio": round(self.ratio, 4),
            "latency_ms": {"p50": round(self.latency.p50, 2), "p99": round(self.latency.p99, 2)},
            "events": self.events,
            "machine": self.machine,
        }


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def stage_rates(samples: Sequence[tuple[float, int, int, int]]) -> list[StageRate]:
    """Per stage: its output count and when it first/last moved (seconds after spawn)."""
    names = ("intake agent → reports topic", "case agent → case-events topic", "DB writer → rows")
    out: list[StageRate] = []
    for index, name in enumerate(names, start=1):
        series = [(s[0], s[index]) for s in samples]
        final = int(series[-1][1]) if series else 0
        first = next((t for t, v in series if v > 0), None)
        last = next((t for t, v in series if v >= final), None) if final else None
        out.append(StageRate(name, final, first, last))
    return out


def _mark(ok: bool) -> str:
    return "✓" if ok else "✗"


def render(result: BenchResult) -> str:
    pg, lite, lat = result.pipelines["postgresql"], result.pipelines["sqlite"], result.latency
    m = result.machine
    rows: list[tuple[str, str, str]] = [
        ("baseline pass-through (aiokafka 1 hop)", f"{result.baseline_eps:,.0f} ev/s", ""),
        (
            "full loop, PostgreSQL",
            f"{pg.eps:,.0f} ev/s",
            f"≥ {TARGET_PIPELINE_EPS:,.0f} ev/s {_mark(pg.eps >= TARGET_PIPELINE_EPS)}",
        ),
        ("full loop, SQLite", f"{lite.eps:,.0f} ev/s", "(no target)"),
        (
            "ratio PostgreSQL / baseline",
            f"{result.ratio:.1%}",
            f"≥ {TARGET_RATIO:.0%} {_mark(result.ratio >= TARGET_RATIO)}",
        ),
        (
            f"latency p50 (202 → row, {lat.rate:g}/s)",
            f"{lat.p50:,.1f} ms",
            f"≤ {TARGET_P50_MS:g} ms {_mark(lat.p50 <= TARGET_P50_MS)}",
        ),
        (
            f"latency p99 (202 → row, {lat.rate:g}/s)",
            f"{lat.p99:,.1f} ms",
            f"≤ {TARGET_P99_MS:g} ms {_mark(lat.p99 <= TARGET_P99_MS)}",
        ),
        ("events", f"{result.events:,}", ""),
    ]
    width = max(len(r[0]) for r in rows)
    value_width = max(len(r[1]) for r in rows)
    lines = [f"{'measure':<{width}}  {'result':>{value_width}}  target (DESIGN.md §9)"]
    lines.append("-" * (width + value_width + 26))
    lines += [f"{a:<{width}}  {b:>{value_width}}  {c}" for a, b, c in rows]
    lines.append("")
    lines.append(
        f"machine: {m['cores']} cores, {m['cpu']}; Python {m['python']}; Kafka {m['kafka']}; "
        f"PostgreSQL {m['postgresql']}; SQLite {m['sqlite']}; "
        f"load average {m['loadavg_at_start']} at start, {m.get('loadavg_at_end', '?')} at end"
    )
    lines.append("")
    lines.append(
        "full loop = N distinct reports pre-produced to gridhub.intake, one worker; "
        "rate = N / (first report row → N-th row)."
    )
    for run in (pg, lite):
        ready = run.eps_from_ready
        startup = run.startup
        lines.append(
            f"  {run.backend}: {run.events} reports → {run.cases} cases; "
            f"first→last row {run.done_at - run.first_row_at:.2f}s"
            + (f"; from worker ready {ready:,.0f} ev/s" if ready else "")
            + (f"; worker start-up {startup:.1f}s" if startup is not None else "")
        )
        for stage in run.stages:
            span = (
                f"{stage.first:6.2f}s → {stage.last:6.2f}s"
                if stage.first is not None and stage.last is not None
                else "—"
            )
            lines.append(
                f"    {stage.name:<32} {stage.records:>8} records  {span}  {stage.rate:>9,.0f}/s"
            )
        if run.topic_records:
            written = {
                name: n for name, n in run.topic_records.items() if not name.endswith("intake")
            }
            lines.append(
                f"    Kafka records written per report: {sum(written.values()) / run.events:.1f} ("
                + ", ".join(
                    f"{name} {n / run.events:.2f}"
                    for name, n in sorted(written.items(), key=lambda kv: -kv[1])
                )
                + ")"
            )
        if run.cpu:
            lines.append(
                "    CPU from worker ready (% of one core): "
                + ", ".join(f"{name} {value:.0f}%" for name, value in run.cpu.items())
                + f" (machine = all {m['cores']} cores summed)"
            )
    http_p50, http_p99 = percentile(lat.http_ms, 50), percentile(lat.http_ms, 99)
    lines.append(
        f"  latency: {lat.sent} reports offered at {lat.rate:g}/s, completed at "
        f"{lat.achieved_rate:,.0f}/s; {lat.seen}/{lat.accepted} seen, {lat.retried} retried; "
        f"HTTP p50 {http_p50:.1f} ms, p99 {http_p99:.1f} ms; "
        f"202 → row max {max(lat.latencies_ms, default=0):.1f} ms"
    )
    lines.append(
        f"    waited {lat.backlog_wait:.0f}s for the worker to work off the throughput backlog"
        + (f" ({lat.backlog_left} records still behind)" if lat.backlog_left else "")
    )
    if lat.cpu:
        lines.append(
            "    CPU (% of one core): "
            + ", ".join(f"{name} {value:.0f}%" for name, value in lat.cpu.items())
        )
    if lat.failed or lat.unfinished or lat.seen < lat.accepted:
        lines.append(
            f"  NOTE: {lat.failed} requests failed, {lat.unfinished} did not finish in time, "
            f"{lat.accepted - lat.seen} accepted reports never showed up"
            + (f"; first failure: {lat.first_failure}" if lat.first_failure else "")
        )
    if lat.achieved_rate < 0.9 * lat.rate:
        lines.append(
            f"  NOTE: the gateway completed only {lat.achieved_rate:,.0f} of the "
            f"{lat.rate:g} reports/s offered, so the latency is not at the target rate"
        )
    return "\n".join(lines)
