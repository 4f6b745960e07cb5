"""``gridhub bench`` end to end with small numbers: every phase runs against the
real broker, PostgreSQL, SQLite, a worker, the same-hops baseline program, a gateway
of two server processes and wrk, and the JSON has the keys of DESIGN.md §9; the soak
samples the worker's memory. It proves the harness, not the speed (targets live in
the benchmark itself, not in timed tests)."""

from __future__ import annotations

import json

import psycopg
import pytest
from click.testing import CliRunner
from kafka.admin import KafkaAdminClient

from gridhub.cli.bench import bench
from gridhub.local.postgres import libpq_url

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def positive(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def test_bench_measures_every_phase_and_writes_the_json(
    kafka_bootstrap, postgres_server_url, tmp_path
):
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(
        bench,
        [
            "--events", "300",
            "--baseline-events", "300",
            "--rate", "50",
            "--latency-seconds", "1",
            "--gateway-seconds", "1",
            "--gateway-connections", "4",
            "--gateway-processes", "2",
            "--batch-events", "10",
            "--bootstrap", kafka_bootstrap,
            "--postgres-url", postgres_server_url,
            "--json", str(out),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert set(doc) == {
        "baseline_eps",
        "baseline_events",
        "hops_baseline_eps",
        "pipeline_eps",
        "ratio",
        "latency_ms",
        "latency_completed_per_s",
        "gateway_posts_per_s",
        "gateway_batch_events_per_s",
        "records_per_report",
        "worker_rss_mb",
        "processes",
        "events",
        "machine",
    }
    assert set(doc["pipeline_eps"]) == {"postgresql", "sqlite"}
    numbers = [
        doc["baseline_eps"],
        doc["hops_baseline_eps"],
        doc["pipeline_eps"]["postgresql"],
        doc["pipeline_eps"]["sqlite"],
        doc["ratio"],
        doc["latency_completed_per_s"],
        doc["gateway_posts_per_s"],
        doc["gateway_batch_events_per_s"],
        doc["worker_rss_mb"],
        doc["events"],
    ]
    assert all(positive(n) for n in numbers), doc
    assert doc["events"] == doc["baseline_events"] == 300
    assert doc["processes"] == {"worker": 1, "gateway": 2}
    # Every record the loop wrote, by topic, changelogs included.
    per_topic = doc["records_per_report"]["topics"]
    assert per_topic["gridhub.reports"] == 1.0
    assert any(name.endswith("changelog") for name in per_topic)
    assert doc["records_per_report"]["total"] == pytest.approx(sum(per_topic.values()), abs=0.01)
    # A latency, or (on a machine too busy to keep up) no percentile and the reason.
    latency = doc["latency_ms"]
    assert latency["offered_per_s"] == 50
    if latency["backlog"] is None:
        assert 0 < latency["p50"] <= latency["p99"]
    else:
        assert latency["p50"] is None and latency["p99"] is None
    machine = doc["machine"]
    assert positive(machine["cores"])
    assert all(isinstance(machine[k], str) and machine[k] for k in ("cpu", "python", "kafka"))
    # The table names every figure beside its target.
    for label in (
        "baseline pass-through",
        "same-hops baseline",
        "full loop, PostgreSQL",
        "full loop, SQLite",
        "ratio",
        "p50",
        "p99",
        "single-report POSTs",
        "batch intake",
        "records written per report",
        "load average",
    ):
        assert label in result.output
    assert "≥ 10,000 ev/s" in result.output

    # Everything it made on the shared broker and server is gone again.
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        assert not [t for t in admin.list_topics() if t.startswith("bench")]
    finally:
        admin.close()
    with psycopg.connect(libpq_url(postgres_server_url), autocommit=True) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'gridhub_bench%'")
        assert rows.fetchall() == []


def test_the_soak_samples_the_workers_memory(kafka_bootstrap, postgres_server_url, tmp_path):
    out = tmp_path / "soak.json"
    result = CliRunner().invoke(
        bench,
        [
            "--soak", "200",
            "--bootstrap", kafka_bootstrap,
            "--postgres-url", postgres_server_url,
            "--json", str(out),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    soak = doc["soak"]
    assert soak["reports"] == 200
    assert soak["rss_mb"] and soak["rss_mb"][-1][0] == 200
    assert all(positive(mb) for _, mb in soak["rss_mb"])
    assert positive(doc["worker_rss_mb"])
    assert isinstance(soak["flat"], bool)
    assert "worker RSS" in result.output and "load average" in result.output
