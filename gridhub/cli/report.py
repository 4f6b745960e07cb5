"""``gridhub report``: write the daily brief of one day (DESIGN.md §2 Report).

Registered on the ``gridhub`` group by :mod:`gridhub.cli`.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from gridhub import bootstrap
from gridhub.settings import Settings
from schemas.alerts import Alert
from sinks.briefs import DEFAULT_TZ, daily_brief, day_bounds, write_brief


@click.command()
@click.option(
    "--date",
    "day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="the day (YYYY-MM-DD, local to --tz); default: yesterday",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="output directory (default: $GRIDHUB_HOME/briefs)",
)
@click.option("--tz", default=DEFAULT_TZ, show_default=True, help="time zone of the day")
@click.option(
    "--hotspots/--no-hotspots",
    default=True,
    show_default=True,
    help="read the day's hotspot alerts back from the alerts topic",
)
def report(day: datetime | None, out: Path | None, tz: str, hotspots: bool) -> None:
    """Write brief-YYYY-MM-DD.md, .html and .json for one day."""
    from streams.agents.brief_agent import brief_names, read_alerts

    settings = Settings()
    the_day: date = day.date() if day else datetime.now(ZoneInfo(tz)).date() - timedelta(days=1)
    alerts: list[Alert] | None = None
    if hotspots:
        start, end = day_bounds(the_day, tz)
        try:
            alerts = asyncio.run(
                read_alerts(settings.bootstrap, settings.topics.alerts, start, end, timeout=15)
            )
        except Exception as exc:
            click.echo(f"hotspot alerts unavailable ({exc}); the brief goes without", err=True)
    bootstrap.migrate(settings)
    engine = bootstrap.engine(settings)
    try:
        brief = daily_brief(
            engine,
            the_day,
            tz,
            hotspots=alerts,
            names=brief_names(bootstrap.load_district(settings)),
        )
    finally:
        engine.dispose()
    for path in write_brief(brief, out or settings.home / "briefs"):
        click.echo(str(path))
