"""What a bench run measured, and the table it prints.

The run's settings (:class:`BenchConfig`), its figures per phase (:class:`PipelineRun`
with :class:`StageRate` per stage, :class:`LatencyRun`, :class:`GatewayRun`,
:class:`SoakRun`, :class:`BenchResult`), the JSON of DESIGN.md §9
(:meth:`BenchResult.to_json`) and :func:`render`, the table that sets each figure
beside its target. Plain data and arithmetic: no I/O.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# DESIGN.md §9.
TARGET_PIPELINE_EPS = 10_000.0
TARGET_RATIO = 0.5
TARGET_P50_MS = 50.0
TARGET_P99_MS = 250.0
TARGET_POSTS_PER_S = 3_000.0
TARGET_BATCH_EVENTS_PER_S = 20_000.0
TARGET_RECORDS_PER_REPORT = 3.0
SUSTAINED_SHARE = 0.95  # of the offered rate the loop must complete for a latency to count


class BenchError(RuntimeError):
    """A phase could not be measured (a process died, events went missing, a timeout)."""


def system_tool(command: str, package: str) -> str:
    """The path of a load generator from Debian's packages, or a :class:`BenchError`
    saying how to install it."""
    path = shutil.which(command)
    if path is None:
        raise BenchError(
            f"{command} is not installed: apt-get install -y {package} "
            "(deploy/install-system-deps.sh does)"
        )
    return path


@dataclass(frozen=True)
class BenchConfig:
    events: int = 100_000  # per full-loop phase
    baseline_events: int = 100_000  # the one-hop and the same-hops baselines
    rate: float = 500.0
    latency_seconds: float = 30.0
    postgres_url: str | None = None  # a server URL whose user may CREATE DATABASE
    bootstrap: str | None = None
    partitions: int = 4
    seed: int = 1
    keep_logs: Path | None = None  # copy worker/gateway logs here at the end
    worker_processes: int = 1
    gateway_processes: int = 0  # 0: one per core
    gateway_seconds: float = 15.0  # of wrk load, per kind (single reports, batches)
    gateway_connections: int = 64
    batch_events: int = 100  # events per CloudEvents batch request
    soak: int | None = None  # reports of a soak run (memory), instead of the phases

    def __post_init__(self) -> None:
        if self.events < 1 or self.rate <= 0 or self.latency_seconds <= 0:
            raise ValueError("events, rate and latency seconds must be positive")
        if self.baseline_events < 1 or self.worker_processes < 1 or self.batch_events < 1:
            raise ValueError("baseline events, worker processes and batch size must be positive")

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
    rows_at: float | None = None  # when the N-th report row showed (the window ends later)
    rss_mb: float | None = None  # the worker processes' resident memory, at the end
    processes: int = 1

    @property
    def eps(self) -> float:
        """Sustained: N reports / (first row -> every consumer group at zero lag)."""
        return self.events / max(self.done_at - self.first_row_at, 1e-6)

    def records_per_report(self) -> dict[str, float]:
        """Kafka records written per report, by topic (changelogs included; the
        pre-produced input is not written by the loop)."""
        return {
            name: round(n / self.events, 3)
            for name, n in sorted(self.topic_records.items(), key=lambda kv: -kv[1])
            if not name.endswith("intake")
        }

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

    def backlog(self) -> str | None:
        """Why these figures are a backlog, not a latency (None when the loop kept up):
        not everything offered completed and showed, or the latency kept growing."""
        if self.accepted < self.sent or self.seen < self.accepted:
            return (
                f"{self.sent - self.accepted} of {self.sent} reports not accepted, "
                f"{self.accepted - self.seen} accepted never visible"
            )
        if self.achieved_rate < SUSTAINED_SHARE * self.rate:
            return f"completed {self.achieved_rate:,.0f}/s of {self.rate:g}/s offered"
        quarter = len(self.latencies_ms) // 4
        if quarter >= 10:
            first = percentile(self.latencies_ms[:quarter], 50)
            last = percentile(self.latencies_ms[-quarter:], 50)
            if last > 2 * first + 50:
                return f"latency grew from p50 {first:.0f} ms to {last:.0f} ms during the run"
        return None


@dataclass
class GatewayRun:
    """wrk against the gateway alone: single reports, and CloudEvents batches."""

    processes: int
    connections: int
    posts_per_s: float
    posts_non_2xx: int
    posts_errors: int
    posts_p99_ms: float
    batch_events: int
    batches_per_s: float
    batch_non_2xx: int
    batch_errors: int
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def batch_events_per_s(self) -> float:
        return self.batches_per_s * self.batch_events


@dataclass
class SoakRun:
    """A long run: the worker's memory as the reports go through."""

    reports: int
    rss_mb: list[tuple[int, float]]  # (reports done, MB), sampled
    seconds: float

    @property
    def growth_second_half_mb(self) -> float:
        """RSS at the end minus RSS when half the reports were done."""
        if not self.rss_mb:
            return 0.0
        half = next(
            (mb for done, mb in self.rss_mb if done >= self.reports // 2), self.rss_mb[-1][1]
        )
        return self.rss_mb[-1][1] - half

    @property
    def flat(self) -> bool:
        """Flat: the second half grew the RSS by at most 5 % (and 20 MB of slack)."""
        if not self.rss_mb:
            return False
        return self.growth_second_half_mb <= 20 + 0.05 * self.rss_mb[-1][1]

    def to_json(self) -> dict[str, Any]:
        return {
            "reports": self.reports,
            "seconds": round(self.seconds, 1),
            "rss_mb": [[done, round(mb, 1)] for done, mb in self.rss_mb],
            "growth_second_half_mb": round(self.growth_second_half_mb, 1),
            "flat": self.flat,
        }


@dataclass
class BenchResult:
    events: int
    baseline_eps: float
    pipelines: dict[str, PipelineRun]
    latency: LatencyRun
    machine: dict[str, Any]
    hops_baseline_eps: float = 0.0
    gateway: GatewayRun | None = None
    baseline_events: int = 0

    @property
    def ratio(self) -> float:
        """The full loop on PostgreSQL against the same-hops baseline of the same run."""
        pg = self.pipelines["postgresql"].eps
        return pg / self.hops_baseline_eps if self.hops_baseline_eps else 0.0

    def to_json(self) -> dict[str, Any]:
        """The keys of DESIGN.md §9. A latency measured on a backlog is no latency:
        its percentiles are null and ``backlog`` says why."""
        pg, lat = self.pipelines["postgresql"], self.latency
        backlog = lat.backlog()
        gateway = self.gateway
        return {
            "baseline_eps": round(self.baseline_eps, 1),
            "baseline_events": self.baseline_events,
            "hops_baseline_eps": round(self.hops_baseline_eps, 1),
            "pipeline_eps": {name: round(run.eps, 1) for name, run in self.pipelines.items()},
            "ratio": round(self.ratio, 4),
            "latency_ms": {
                "p50": None if backlog else round(lat.p50, 2),
                "p99": None if backlog else round(lat.p99, 2),
                "offered_per_s": lat.rate,
                "backlog": backlog,
            },
            "latency_completed_per_s": round(lat.achieved_rate, 1),
            "gateway_posts_per_s": round(gateway.posts_per_s, 1) if gateway else None,
            "gateway_batch_events_per_s": round(gateway.batch_events_per_s, 1) if gateway else None,
            "records_per_report": {
                "total": round(sum(pg.records_per_report().values()), 3),
                "topics": pg.records_per_report(),
            },
            "worker_rss_mb": round(pg.rss_mb, 1) if pg.rss_mb is not None else None,
            "processes": {
                "worker": pg.processes,
                "gateway": gateway.processes if gateway else None,
            },
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


def _rows(result: BenchResult) -> list[tuple[str, str, str]]:
    pg, lat, gw = result.pipelines["postgresql"], result.latency, result.gateway
    backlog = lat.backlog()
    records = sum(pg.records_per_report().values())
    rows: list[tuple[str, str, str]] = [
        (
            f"baseline pass-through (aiokafka 1 hop, {result.baseline_events:,})",
            f"{result.baseline_eps:,.0f} ev/s",
            "",
        ),
        (
            "same-hops baseline (aiokafka + DB, no logic)",
            f"{result.hops_baseline_eps:,.0f} ev/s",
            "",
        ),
        (
            f"full loop, PostgreSQL ({pg.processes} worker process(es))",
            f"{pg.eps:,.0f} ev/s",
            f"≥ {TARGET_PIPELINE_EPS:,.0f} ev/s {_mark(pg.eps >= TARGET_PIPELINE_EPS)}",
        ),
    ]
    if "sqlite" in result.pipelines:
        rows.append(("full loop, SQLite", f"{result.pipelines['sqlite'].eps:,.0f} ev/s", ""))
    rows += [
        (
            "ratio PostgreSQL / same-hops baseline",
            f"{result.ratio:.1%}",
            f"≥ {TARGET_RATIO:.0%} {_mark(result.ratio >= TARGET_RATIO)}",
        ),
        (
            "Kafka records written per report",
            f"{records:.2f}",
            f"≤ {TARGET_RECORDS_PER_REPORT:g} {_mark(records <= TARGET_RECORDS_PER_REPORT)}",
        ),
    ]
    for pct, value, target in ((50, lat.p50, TARGET_P50_MS), (99, lat.p99, TARGET_P99_MS)):
        label = f"latency p{pct} (request → case in the API, {lat.rate:g}/s)"
        if backlog:
            rows.append((label, "backlog", f"≤ {target:g} ms ✗ (not measured: {backlog})"))
        else:
            rows.append((label, f"{value:,.1f} ms", f"≤ {target:g} ms {_mark(value <= target)}"))
    if gw is not None:
        rows += [
            (
                f"gateway, single-report POSTs ({gw.processes} process(es), wrk)",
                f"{gw.posts_per_s:,.0f} /s",
                f"≥ {TARGET_POSTS_PER_S:,.0f}/s {_mark(gw.posts_per_s >= TARGET_POSTS_PER_S)}",
            ),
            (
                f"gateway, batch intake ({gw.batch_events} events a request)",
                f"{gw.batch_events_per_s:,.0f} ev/s",
                f"≥ {TARGET_BATCH_EVENTS_PER_S:,.0f} ev/s "
                f"{_mark(gw.batch_events_per_s >= TARGET_BATCH_EVENTS_PER_S)}",
            ),
        ]
    if pg.rss_mb is not None:
        rows.append(("worker memory (RSS, end of the full loop)", f"{pg.rss_mb:,.0f} MB", ""))
    rows.append(("events", f"{result.events:,}", ""))
    return rows


def _table(rows: list[tuple[str, str, str]]) -> list[str]:
    width = max(len(r[0]) for r in rows)
    value_width = max(len(r[1]) for r in rows)
    lines = [f"{'measure':<{width}}  {'result':>{value_width}}  target (DESIGN.md §9)"]
    lines.append("-" * (width + value_width + 26))
    lines += [f"{a:<{width}}  {b:>{value_width}}  {c}" for a, b, c in rows]
    return lines


def _machine_line(m: dict[str, Any]) -> str:
    return (
        f"machine: {m['cores']} cores, {m['cpu']}; Python {m['python']}; Kafka {m['kafka']}; "
        f"PostgreSQL {m['postgresql']}; SQLite {m['sqlite']}; "
        f"load average {m['loadavg_at_start']} at start, {m.get('loadavg_at_end', '?')} at end"
    )


def _pipeline_lines(run: PipelineRun, cores: int) -> list[str]:
    ready, startup = run.eps_from_ready, run.startup
    rows_at = run.rows_at if run.rows_at is not None else run.done_at
    lines = [
        f"  {run.backend}: {run.events} reports → {run.cases} cases; "
        f"first row → last row {rows_at - run.first_row_at:.2f}s → zero lag "
        f"{run.done_at - run.first_row_at:.2f}s"
        + (f"; from worker ready {ready:,.0f} ev/s" if ready else "")
        + (f"; worker start-up {startup:.1f}s" if startup is not None else "")
    ]
    for stage in run.stages:
        span = (
            f"{stage.first:6.2f}s → {stage.last:6.2f}s"
            if stage.first is not None and stage.last is not None
            else "—"
        )
        lines.append(
            f"    {stage.name:<32} {stage.records:>8} records  {span}  {stage.rate:>9,.0f}/s"
        )
    per = run.records_per_report()
    if per:
        lines.append(
            f"    Kafka records written per report: {sum(per.values()):.2f} ("
            + ", ".join(f"{name} {n:.2f}" for name, n in per.items())
            + ")"
        )
    if run.cpu:
        lines.append(
            "    CPU from worker ready (% of one core): "
            + ", ".join(f"{name} {value:.0f}%" for name, value in run.cpu.items())
            + f" (machine = all {cores} cores summed)"
        )
        worker = run.cpu.get("worker")
        if worker:
            window = run.done_at - run.first_row_at
            lines.append(f"    worker CPU per report: {10.0 * worker * window / run.events:.3f} ms")
    return lines


def render(result: BenchResult) -> str:
    lat, gw, m = result.latency, result.gateway, result.machine
    lines = _table(_rows(result))
    lines += ["", _machine_line(m), ""]
    lines.append(
        "full loop = N distinct reports pre-produced to gridhub.intake; rate = N / (first "
        "report row → every consumer group of the worker at zero lag)."
    )
    for run in result.pipelines.values():
        lines += _pipeline_lines(run, m["cores"])
    http_p50, http_p99 = percentile(lat.http_ms, 50), percentile(lat.http_ms, 99)
    lines.append(
        f"  latency: {lat.sent} reports offered at {lat.rate:g}/s (open loop, timed from each "
        f"request's scheduled start to its case in the live queue), completed at "
        f"{lat.achieved_rate:,.0f}/s; {lat.seen}/{lat.accepted} visible, {lat.retried} retried; "
        f"HTTP p50 {http_p50:.1f} ms, p99 {http_p99:.1f} ms; "
        f"max {max(lat.latencies_ms, default=0):.1f} ms"
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
    backlog = lat.backlog()
    if backlog:
        lines.append(f"  NOTE: the latency is not reported: a backlog, not a latency ({backlog})")
    if lat.failed or lat.unfinished:
        lines.append(
            f"  NOTE: {lat.failed} requests failed, {lat.unfinished} did not finish in time"
            + (f"; first failure: {lat.first_failure}" if lat.first_failure else "")
        )
    if gw is not None:
        lines.append(
            f"  gateway alone (broker beside it, worker stopped), wrk {gw.connections} conns: "
            f"{gw.posts_per_s:,.0f} POSTs/s (p99 {gw.posts_p99_ms:.1f} ms, {gw.posts_non_2xx} "
            f"not 2xx, {gw.posts_errors} socket errors); {gw.batches_per_s:,.0f} batches/s of "
            f"{gw.batch_events} ({gw.batch_non_2xx} not 2xx, {gw.batch_errors} socket errors)"
        )
        if gw.cpu:
            lines.append(
                "    CPU during the single POSTs (% of one core): "
                + ", ".join(f"{name} {value:.0f}%" for name, value in gw.cpu.items())
            )
    return "\n".join(lines)


def render_soak(soak: SoakRun, machine: dict[str, Any]) -> str:
    lines = [
        f"soak: {soak.reports:,} reports through the full loop (PostgreSQL), {soak.seconds:,.0f}s",
        "  worker RSS (MB) by reports done: "
        + ", ".join(f"{done:,}: {mb:,.0f}" for done, mb in soak.rss_mb),
        f"  second half grew the RSS by {soak.growth_second_half_mb:,.1f} MB: "
        + ("flat ✓" if soak.flat else "not flat ✗"),
        "",
        _machine_line(machine),
    ]
    return "\n".join(lines)
