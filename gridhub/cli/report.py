"""``gridhub report``: write the brief of one day, week or month (DESIGN.md §2 Report).

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
from schemas.periods import Period, PeriodKind, last_complete, period_of
from sinks.briefs import DEFAULT_TZ, daily_brief, day_bounds, period_brief, write_brief


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
    "--period",
    type=click.Choice(["day", "week", "month"]),
    default="day",
    show_default=True,
    help="a day's brief, or the week's or month's holding --date (default: the last complete)",
)
@click.option(
    "--hotspots/--no-hotspots",
    default=True,
    show_default=True,
    help="read the day's hotspot alerts back from the alerts topic",
)
def report(day: datetime | None, out: Path | None, tz: str, hotspots: bool, period: str) -> None:
    """Write brief-<day|week|month>.md, .html and .json for one day, week or month."""
    from streams.agents.brief_agent import brief_names, read_alerts

    settings = Settings()
    the_day: date = day.date() if day else datetime.now(ZoneInfo(tz)).date() - timedelta(days=1)
    span: Period | None = None
    if period != "day":
        kind = PeriodKind(period)
        span = (
            period_of(kind, the_day, tz)
            if day
            else last_complete(kind, datetime.now(ZoneInfo(tz)), tz)
        )
    alerts: list[Alert] | None = None
    if hotspots:
        start, end = day_bounds(the_day, tz) if span is None else (span.start, span.end)
        try:
            alerts = asyncio.run(
                read_alerts(
                    settings.bootstrap,
                    settings.topics.alerts,
                    start,
                    end,
                    timeout=15,
                    security=settings.kafka_security,
                )
            )
        except Exception as exc:
            click.echo(f"hotspot alerts unavailable ({exc}); the brief goes without", err=True)
    bootstrap.migrate(settings)
    engine = bootstrap.engine(settings)
    try:
        names = brief_names(bootstrap.load_district(settings))
        brief = (
            daily_brief(engine, the_day, tz, hotspots=alerts, names=names)
            if span is None
            else period_brief(engine, span, hotspots=alerts, names=names)
        )
    finally:
        engine.dispose()
    for path in write_brief(brief, out or settings.home / "briefs"):
        click.echo(str(path))
