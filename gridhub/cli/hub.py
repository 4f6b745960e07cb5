"""``gridhub up``, ``worker``, ``gateway`` and ``kafka``: run the hub's processes in
the foreground. Each builds its settings, logging and app here, at the entry point,
and nowhere earlier (DESIGN.md §4: no client or connection at import).
"""

from __future__ import annotations

import os
import sys

import click

from gridhub import bootstrap
from gridhub.local.processes import wait_for_signal
from gridhub.settings import Settings


@click.command()
def up() -> None:
    """Bring up the whole local stack: broker, database, topics, worker, gateway."""
    from gridhub.local.stack import run_stack

    # The local demo stack is dev by definition (its children inherit this).
    os.environ.setdefault("GRIDHUB_ENV", "dev")
    settings = Settings()
    if settings.env != "dev":
        raise click.ClickException(
            "gridhub up is the local demo stack (demo tokens, local broker): GRIDHUB_ENV=dev only"
        )
    sys.exit(run_stack(settings))


@click.command()
def worker() -> None:
    """Run one Faust worker (all stages); start more with the same app id to scale out."""
    import faust

    from gridhub.logging import setup_logging

    settings = Settings()
    settings.require("worker")
    logs = setup_logging(settings, "worker")
    bootstrap.migrate(settings)  # idempotent and serialised across processes
    app = bootstrap.worker_app(settings)
    bootstrap.create_changelog_topics(settings, app)
    faust.Worker(app, loglevel="info", logging_config=logs).execute_from_commandline()


@click.command()
@click.option(
    "--processes",
    type=click.IntRange(min=0),
    default=None,
    help="server processes sharing the port (default: GRIDHUB_GATEWAY_PROCESSES; 0: one per core)",
)
def gateway(processes: int | None) -> None:
    """Run the HTTP gateway: one or several server processes on one port."""
    import uvicorn

    from gridhub.logging import setup_logging

    settings = Settings()
    settings.require("gateway")
    logs = setup_logging(settings, "gateway")
    bootstrap.migrate(settings)
    count = bootstrap.gateway_processes(settings, processes)
    uvicorn.run(
        # Every server process builds its own app (several share the listening socket).
        "gridhub.bootstrap:gateway_server",
        factory=True,
        workers=count,
        host=settings.gateway_host,
        port=settings.gateway_port,
        # The C parser and event loop: a third of a request's cost in pure Python.
        loop="uvloop",
        http="httptools",
        log_level="info",
        log_config=logs,
        # No line per request: the request metrics count and time them, and a line
        # would cost a tenth of a report's CPU (and carry query strings).
        access_log=False,
        # The proxies allowed to name the client (per-address rate limits).
        forwarded_allow_ips=settings.forwarded_allow_ips,
        # Open SSE streams never finish by themselves: cut them after this grace.
        timeout_graceful_shutdown=settings.gateway_shutdown_grace,
    )


@click.command()
def kafka() -> None:
    """Run the local single-node KRaft broker in the foreground until Ctrl-C."""
    from gridhub.local.kafka import LocalKafka

    broker = LocalKafka.from_settings(Settings())
    broker.ensure_jars()
    broker.start()
    click.echo(f"Kafka broker ready at {broker.bootstrap} (Ctrl-C stops it)")
    try:
        wait_for_signal(broker.is_running)
    finally:
        broker.stop()
        click.echo("Kafka broker stopped")
