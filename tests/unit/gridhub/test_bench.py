"""The bench's arithmetic and formats without any process: what counts as a backlog
rather than a latency, when memory is flat, the JSON keys, wrk's result line, and
the same-hops baseline's rows (the worker's tables, every column)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridhub.bench.gateway_load import parse, write_bodies
from gridhub.bench.hops import case_event_of, community_key, report_of, rows_of
from gridhub.bench.results import (
    BenchResult,
    GatewayRun,
    LatencyRun,
    PipelineRun,
    SoakRun,
    render,
)
from sinks.models import case_events, cases, reports


def latency(**changes: object) -> LatencyRun:
    fields: dict[str, object] = {
        "rate": 500.0,
        "seconds": 30.0,
        "sent": 100,
        "accepted": 100,
        "seen": 100,
        "failed": 0,
        "unfinished": 0,
        "retried": 0,
        "first_failure": "",
        "achieved_rate": 499.0,
        "latencies_ms": [20.0 + n % 7 for n in range(100)],
        "http_ms": [2.0] * 100,
    }
    fields.update(changes)
    return LatencyRun(**fields)  # type: ignore[arg-type]


def test_a_loop_that_keeps_up_has_a_latency() -> None:
    assert latency().backlog() is None


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"accepted": 90, "seen": 90}, "not accepted"),
        ({"seen": 95}, "never visible"),
        ({"achieved_rate": 300.0}, "completed 300/s"),
        ({"latencies_ms": [10.0 * n for n in range(100)]}, "latency grew"),
    ],
)
def test_a_backlog_is_not_a_latency(changes: dict[str, object], needle: str) -> None:
    reason = latency(**changes).backlog()
    assert reason is not None and needle in reason


def pipeline(backend: str, eps: float) -> PipelineRun:
    return PipelineRun(
        backend=backend,
        events=1000,
        spawned_at=0.0,
        ready_at=1.0,
        first_row_at=2.0,
        done_at=2.0 + 1000 / eps,
        cases=150,
        topic_records={"gridhub.intake": 1000, "gridhub.reports": 1000, "x-changelog": 500},
        rss_mb=180.0,
    )


def result(lat: LatencyRun) -> BenchResult:
    return BenchResult(
        events=1000,
        baseline_eps=90_000.0,
        baseline_events=100_000,
        hops_baseline_eps=10_000.0,
        pipelines={"postgresql": pipeline("postgresql", 5000), "sqlite": pipeline("sqlite", 3000)},
        latency=lat,
        gateway=GatewayRun(
            processes=2,
            connections=64,
            posts_per_s=3100.0,
            posts_non_2xx=0,
            posts_errors=0,
            posts_p99_ms=40.0,
            batch_events=100,
            batches_per_s=210.0,
            batch_non_2xx=0,
            batch_errors=0,
        ),
        machine={
            "cores": 2,
            "cpu": "x",
            "python": "3.11",
            "kafka": "4.0",
            "postgresql": "15",
            "sqlite": "3",
            "loadavg_at_start": 0.1,
        },
    )


def test_the_json_sets_the_loop_against_the_same_hops_baseline() -> None:
    doc = result(latency()).to_json()
    assert doc["ratio"] == pytest.approx(0.5)
    assert doc["records_per_report"] == {
        "total": 1.5,
        "topics": {"gridhub.reports": 1.0, "x-changelog": 0.5},
    }
    assert doc["gateway_posts_per_s"] == 3100.0
    assert doc["gateway_batch_events_per_s"] == 21_000.0
    assert doc["processes"] == {"worker": 1, "gateway": 2}
    assert doc["latency_ms"]["backlog"] is None and doc["latency_ms"]["p50"] > 0


def test_a_backlog_publishes_no_percentile_and_fails_the_check() -> None:
    backlogged = result(latency(achieved_rate=200.0))
    doc = backlogged.to_json()
    assert doc["latency_ms"]["p50"] is None and doc["latency_ms"]["p99"] is None
    assert "completed 200/s" in doc["latency_ms"]["backlog"]
    table = render(backlogged)
    assert "backlog" in table and "✗ (not measured" in table


def test_memory_is_flat_when_the_second_half_does_not_grow_it() -> None:
    flat = SoakRun(reports=1000, rss_mb=[(250, 200.0), (500, 210.0), (1000, 215.0)], seconds=9)
    assert flat.flat and flat.growth_second_half_mb == 5.0
    growing = SoakRun(reports=1000, rss_mb=[(500, 200.0), (1000, 400.0)], seconds=9)
    assert not growing.flat
    assert not SoakRun(reports=1000, rss_mb=[], seconds=9).flat


def test_wrk_result_line_is_read_and_bodies_are_one_a_line(tmp_path: Path) -> None:
    output = (
        "Running 1s test\n"
        'gridhub-wrk {"requests": 3010, "duration_us": 1000000, "bytes": 1, "non_2xx": 10, '
        '"connect_errors": 1, "read_errors": 0, "write_errors": 0, "timeouts": 2, '
        '"latency_p50_us": 900, "latency_p99_us": 25000}\n'
    )
    run = parse(output)
    assert run.per_second == 3000.0 and run.socket_errors == 3 and run.p99_ms == 25.0
    lines = write_bodies(tmp_path / "b", [("gh_a", b'{"x": 1}'), ("gh_b", b"[]")])
    assert lines.read_bytes() == b'gh_a\t{"x": 1}\ngh_b\t[]\n'
    with pytest.raises(ValueError, match="one line"):
        write_bodies(tmp_path / "c", [("t", b"{\n}")])


def test_the_same_hops_baseline_writes_every_column_of_the_workers_tables() -> None:
    event = {
        "id": "e-1",
        "source": "urn:s",
        "type": "org.gridhub.report.submitted",
        "time": "2026-12-07T10:00:00Z",
        "data": {
            "category": "noise",
            "description": "噪声",
            "location": {"lat": 39.9012, "lon": 116.3834},
            "report_id": "r-1",
        },
    }
    report = report_of(event)
    assert community_key(event["data"]) == b"39.90,116.38"
    timeline, case_rows, report_rows = rows_of([case_event_of(report)] * 2)  # read twice
    assert len(timeline) == len(case_rows) == len(report_rows) == 1
    assert set(timeline[0]) == {c.name for c in case_events.columns}
    assert set(case_rows[0]) == {c.name for c in cases.columns}
    assert set(report_rows[0]) == {c.name for c in reports.columns}
    assert report_rows[0]["id"] == "r-1" and report_rows[0]["case_id"] == case_rows[0]["id"]


def test_the_bench_is_a_dev_stack_in_a_container_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bench starts its own throwaway hub, so it needs no GRIDHUB_ENV (which a
    container otherwise must set), as gridhub up."""
    import importlib
    import os

    from click.testing import CliRunner

    # The module, not the command of the same name the package exports.
    bench_cli = importlib.import_module("gridhub.cli.bench")

    seen: list[str | None] = []

    class Recording:
        def __init__(self, config: object, status: object) -> None:
            pass

        def run(self) -> None:
            seen.append(os.environ.get("GRIDHUB_ENV"))
            raise bench_cli.BenchError("stopped by the test")

    monkeypatch.setattr(bench_cli, "Bench", Recording)
    monkeypatch.setenv("GRIDHUB_ENV", "unset-below")  # restored after the test
    monkeypatch.delenv("GRIDHUB_ENV")
    result = CliRunner().invoke(bench_cli.bench, ["--events", "10"])
    assert seen == ["dev"], result.output
