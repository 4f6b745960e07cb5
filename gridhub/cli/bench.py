"""``gridhub bench``: measure the DESIGN.md §9 targets in one run.

Registered on the ``gridhub`` group by :mod:`gridhub.cli`.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import click

from gridhub.bench import Bench, BenchConfig, BenchError, render
from gridhub.bench.results import render_soak
from gridhub.console import StatusLine
from gridhub.local.processes import sigterm_as_interrupt


@click.command()
@click.option(
    "--events",
    type=click.IntRange(min=1),
    default=BenchConfig.events,
    show_default=True,
    help="events per full-loop phase",
)
@click.option(
    "--baseline-events",
    type=click.IntRange(min=1),
    default=BenchConfig.baseline_events,
    show_default=True,
    help="records of the one-hop and the same-hops baselines (at least 100,000 for a "
    "figure worth comparing: start-up must not dominate)",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    default=500.0,
    show_default=True,
    help="reports/s sent through the gateway for the latency",
)
@click.option(
    "--latency-seconds",
    type=click.FloatRange(min=0, min_open=True),
    default=BenchConfig.latency_seconds,
    show_default=True,
    help="seconds of traffic for the latency",
)
@click.option(
    "--worker-processes",
    type=click.IntRange(min=1),
    default=BenchConfig.worker_processes,
    show_default=True,
    help="worker processes sharing the partitions (the same-hops baseline gets as many)",
)
@click.option(
    "--gateway-processes",
    type=click.IntRange(min=0),
    default=BenchConfig.gateway_processes,
    show_default=True,
    help="gateway server processes (0: one per core)",
)
@click.option(
    "--gateway-seconds",
    type=click.FloatRange(min=1),
    default=BenchConfig.gateway_seconds,
    show_default=True,
    help="seconds of wrk load on the gateway, for single reports and for batches each",
)
@click.option(
    "--gateway-connections",
    type=click.IntRange(min=1),
    default=BenchConfig.gateway_connections,
    show_default=True,
    help="wrk's connections to the gateway",
)
@click.option(
    "--batch-events",
    type=click.IntRange(min=1),
    default=BenchConfig.batch_events,
    show_default=True,
    help="events per CloudEvents batch request",
)
@click.option(
    "--soak",
    type=click.IntRange(min=1),
    default=None,
    help="instead of the phases: this many reports through the full loop (PostgreSQL), "
    "sampling the workers' memory (e.g. 1000000; long, not for CI)",
)
@click.option(
    "--postgres-url",
    default=None,
    help="PostgreSQL server URL whose user may CREATE DATABASE (a fresh database "
    "is made and dropped); default: a throwaway local server",
)
@click.option(
    "--bootstrap",
    default=None,
    help="Kafka bootstrap (default: GRIDHUB_KAFKA_BOOTSTRAP, else a throwaway local broker)",
)
@click.option(
    "--partitions",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="partitions of every bench topic",
)
@click.option(
    "--seed", type=int, default=1, show_default=True, help="seed of the generated reports"
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="also write the figures as JSON to this file",
)
@click.option(
    "--keep-logs",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="copy the worker and gateway logs into this directory",
)
def bench(
    events: int,
    baseline_events: int,
    rate: float,
    latency_seconds: float,
    worker_processes: int,
    gateway_processes: int,
    gateway_seconds: float,
    gateway_connections: int,
    batch_events: int,
    soak: int | None,
    postgres_url: str | None,
    bootstrap: str | None,
    partitions: int,
    seed: int,
    json_path: Path | None,
    keep_logs: Path | None,
) -> None:
    """Measure the targets of DESIGN.md §9: the baselines (one hop; same hops and
    database writes, no logic), the full loop on PostgreSQL and SQLite, the latency
    through the API, and the gateway under wrk; or, with --soak N, the workers'
    memory over N reports.

    Starts what it needs (broker, PostgreSQL, workers, gateway) on 127.0.0.1 and
    removes it all afterwards, also on Ctrl-C. Progress goes to stderr, the table
    to stdout. Run it on a quiet machine: the load average is printed with it.
    """
    config = BenchConfig(
        events=events,
        baseline_events=baseline_events,
        rate=rate,
        latency_seconds=latency_seconds,
        worker_processes=worker_processes,
        gateway_processes=gateway_processes,
        gateway_seconds=gateway_seconds,
        gateway_connections=gateway_connections,
        batch_events=batch_events,
        soak=soak,
        postgres_url=postgres_url,
        bootstrap=bootstrap,
        partitions=partitions,
        seed=seed,
        keep_logs=keep_logs,
    )
    # The clients' own retries (coordinator not yet elected...) are not news here;
    # a real failure ends the phase with an error.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    # The bench starts its own throwaway broker, database and hub: dev by definition,
    # as gridhub up is (its children inherit this).
    os.environ.setdefault("GRIDHUB_ENV", "dev")
    status = StatusLine(sys.stderr)
    try:
        with sigterm_as_interrupt():
            if soak is not None:
                soaked, machine = Bench(config, status).run_soak()
                doc = {
                    "soak": soaked.to_json(),
                    "worker_rss_mb": soaked.rss_mb[-1][1] if soaked.rss_mb else None,
                    "machine": machine,
                }
                click.echo(render_soak(soaked, machine))
                _write(json_path, doc)
                return
            result = Bench(config, status).run()
    except KeyboardInterrupt:
        status.done()
        click.echo("bench interrupted; everything it started has been stopped", err=True)
        sys.exit(130)
    except BenchError as exc:
        status.done()
        click.echo(f"bench failed: {exc}", err=True)
        sys.exit(1)
    click.echo(render(result))
    _write(json_path, result.to_json())


def _write(path: Path | None, doc: dict[str, Any]) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        click.echo(f"\nwrote {path}")
