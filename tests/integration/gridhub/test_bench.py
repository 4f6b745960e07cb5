"""``gridhub bench`` end to end with small numbers: every phase runs against the
real broker, PostgreSQL, SQLite, a worker and a gateway, and the JSON has the
keys of DESIGN.md §9. It proves the harness, not the speed (targets live in the
benchmark itself, not in timed tests)."""

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
            "--rate", "50",
            "--latency-seconds", "1",
            "--bootstrap", kafka_bootstrap,
            "--postgres-url", postgres_server_url,
            "--json", str(out),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert set(doc) == {"baseline_eps", "pipeline_eps", "ratio", "latency_ms", "events", "machine"}
    assert set(doc["pipeline_eps"]) == {"postgresql", "sqlite"}
    assert set(doc["latency_ms"]) == {"p50", "p99"}
    numbers = [
        doc["baseline_eps"],
        doc["pipeline_eps"]["postgresql"],
        doc["pipeline_eps"]["sqlite"],
        doc["ratio"],
        doc["latency_ms"]["p50"],
        doc["latency_ms"]["p99"],
        doc["events"],
    ]
    assert all(positive(n) for n in numbers), doc
    assert doc["events"] == 300
    assert doc["latency_ms"]["p99"] >= doc["latency_ms"]["p50"]
    machine = doc["machine"]
    assert positive(machine["cores"])
    assert all(isinstance(machine[k], str) and machine[k] for k in ("cpu", "python", "kafka"))
    # The table names every figure beside its target.
    for label in ("baseline", "full loop, PostgreSQL", "full loop, SQLite", "ratio", "p50", "p99"):
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
