"""The ``gridhub`` command line (DESIGN.md §5 CLI)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from gridhub import bootstrap
from gridhub.local.processes import wait_for_signal
from gridhub.settings import Settings


def _settings() -> Settings:
    return Settings()


@click.group()
def main() -> None:
    """GridHub: the event hub of a district's social governance information centre."""


@main.command()
def up() -> None:
    """Bring up the whole local stack: broker, database, topics, worker, gateway."""
    from gridhub.local.stack import run_stack

    sys.exit(run_stack(_settings()))


@main.command()
def worker() -> None:
    """Run one Faust worker (all stages); start more with the same app id to scale out."""
    import faust

    from gridhub.logging import setup_logging

    settings = _settings()
    logs = setup_logging(settings, "worker")
    bootstrap.migrate(settings)  # idempotent and serialised across processes
    app = bootstrap.worker_app(settings)
    bootstrap.create_changelog_topics(settings, app)
    faust.Worker(app, loglevel="info", logging_config=logs).execute_from_commandline()


@main.command()
def gateway() -> None:
    """Run the HTTP gateway."""
    import uvicorn

    from gridhub.logging import setup_logging

    settings = _settings()
    logs = setup_logging(settings, "gateway")
    bootstrap.migrate(settings)
    uvicorn.run(
        bootstrap.gateway_app(settings),
        host=settings.gateway_host,
        port=settings.gateway_port,
        log_level="info",
        log_config=logs,
        # Open SSE streams never finish by themselves: cut them after this grace.
        timeout_graceful_shutdown=settings.gateway_shutdown_grace,
    )


@main.command()
def kafka() -> None:
    """Run the local single-node KRaft broker in the foreground until Ctrl-C."""
    from gridhub.local.kafka import LocalKafka

    broker = LocalKafka.from_settings(_settings())
    broker.ensure_jars()
    broker.start()
    click.echo(f"Kafka broker ready at {broker.bootstrap} (Ctrl-C stops it)")
    try:
        wait_for_signal(broker.is_running)
    finally:
        broker.stop()
        click.echo("Kafka broker stopped")


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply Alembic migrations up to head."""
    settings = _settings()
    bootstrap.migrate(settings)
    click.echo(f"database at head: {settings.db_url}")


@main.group()
def topics() -> None:
    """Kafka topics."""


@topics.command("create")
def topics_create() -> None:
    """Create every GridHub topic (existing ones are left as they are)."""
    created = bootstrap.create_hub_topics(_settings())
    click.echo(f"created {len(created)} topic(s): {', '.join(created) or '-'}")


@main.group()
def token() -> None:
    """API tokens (stored hashed)."""


@token.command("create")
@click.option("--role", required=True, help="grid_worker, operator, department, system, ...")
@click.option("--name", required=True, help="who holds it")
@click.option("--scope", default=None, help="grid/community code, department or source")
def token_create(role: str, name: str, scope: str | None) -> None:
    """Create a token; the plaintext is printed alone on the last line."""
    settings = _settings()
    bootstrap.migrate(settings)
    plaintext, record = bootstrap.token_store(settings).create(role, name, scope)
    click.echo(f"token {record.id} for {record.name} (role {record.role}, scope {record.scope})")
    click.echo(plaintext)


@token.command("revoke")
@click.argument("token_id")
def token_revoke(token_id: str) -> None:
    """Revoke a token by its id."""
    ok = bootstrap.token_store(_settings()).revoke(token_id)
    click.echo("revoked" if ok else "no such token")
    sys.exit(0 if ok else 1)


@token.command("list")
def token_list() -> None:
    """List tokens (never their plaintext)."""
    for rec in bootstrap.token_store(_settings()).list():
        state = "revoked" if rec.revoked_at else "active"
        click.echo(f"{rec.id}\t{rec.role}\t{rec.name}\t{rec.scope or '-'}\t{state}")


@main.group()
def schemas() -> None:
    """JSON Schemas of the public contracts."""


@schemas.command("export")
@click.option("--out", type=click.Path(path_type=Path), default=Path("schemas-export"))
def schemas_export(out: Path) -> None:
    """Write one JSON Schema file per contract into OUT."""
    from schemas.export import json_schemas

    out.mkdir(parents=True, exist_ok=True)
    for name, schema in json_schemas().items():
        (out / f"{name}.json").write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n")
    click.echo(f"wrote {len(json_schemas())} schemas to {out}")


@main.command()
@click.option(
    "--database-url", default=None, help="target database (default: GRIDHUB_DATABASE_URL)"
)
def replay(database_url: str | None) -> None:
    """Rebuild the database projection from the gridhub.case-events feed."""
    from gridhub.replay import print_progress
    from gridhub.replay import replay as run_replay
    from sinks.db import make_engine, upgrade
    from sinks.writer import CaseProjectionWriter

    settings = _settings()
    url = database_url or settings.db_url
    settings.home.mkdir(parents=True, exist_ok=True)
    upgrade(url)
    stats = run_replay(
        settings.bootstrap,
        settings.topics.case_events,
        CaseProjectionWriter(make_engine(url)),
        progress=print_progress,
    )
    click.echo(
        f"\nreplayed {stats.events} case events ({stats.skipped} skipped) "
        f"in {stats.seconds:.1f}s into {url}"
    )


def _register_commands() -> None:
    from gridhub.commands_bench import bench
    from gridhub.commands_publish import publish
    from gridhub.commands_report import report
    from gridhub.commands_simulate import simulate

    for command in (bench, publish, report, simulate):
        main.add_command(command)


_register_commands()
