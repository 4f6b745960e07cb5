"""``gridhub bench``: measure the DESIGN.md §9 targets in one run.

Registered on the ``gridhub`` group by :mod:`gridhub.cli`.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from gridhub.bench import Bench, BenchConfig, BenchError, render
from gridhub.console import StatusLine
from gridhub.local.processes import sigterm_as_interrupt


@click.command()
@click.option(
    "--events",
    type=click.IntRange(min=1),
    default=20_000,
    show_default=True,
    help="events per throughput phase",
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
    default=5.0,
    show_default=True,
    help="seconds of traffic for the latency",
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
    rate: float,
    latency_seconds: float,
    postgres_url: str | None,
    bootstrap: str | None,
    partitions: int,
    seed: int,
    json_path: Path | None,
    keep_logs: Path | None,
) -> None:
    """Measure throughput (baseline, full loop on PostgreSQL and SQLite) and latency.

    Starts what it needs (broker, PostgreSQL, one worker, one gateway) on
    127.0.0.1 and removes it all afterwards, also on Ctrl-C. Progress goes to
    stderr, the table to stdout.
    """
    config = BenchConfig(
        events=events,
        rate=rate,
        latency_seconds=latency_seconds,
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
    status = StatusLine(sys.stderr)
    try:
        with sigterm_as_interrupt():
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
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n")
        click.echo(f"\nwrote {json_path}")
