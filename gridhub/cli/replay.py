"""``gridhub replay``: rebuild the database projection from the
``gridhub.case-events`` feed (:mod:`gridhub.replay`), into the hub's database or
another one."""

from __future__ import annotations

import click

from gridhub.settings import Settings


@click.command()
@click.option(
    "--database-url", default=None, help="target database (default: GRIDHUB_DATABASE_URL)"
)
def replay(database_url: str | None) -> None:
    """Rebuild the database projection from the gridhub.case-events feed."""
    from gridhub.replay import print_progress
    from gridhub.replay import replay as run_replay
    from sinks.db import make_engine, upgrade
    from sinks.writer import CaseProjectionWriter

    settings = Settings()
    url = database_url or settings.db_url
    settings.home.mkdir(parents=True, exist_ok=True)
    upgrade(url)
    stats = run_replay(
        settings.bootstrap,
        settings.topics.case_events,
        CaseProjectionWriter(make_engine(url)),
        progress=print_progress,
        security=settings.kafka_security.kafka_python(),
    )
    click.echo(
        f"\nreplayed {stats.events} case events ({stats.skipped} skipped) "
        f"in {stats.seconds:.1f}s into {url}"
    )
