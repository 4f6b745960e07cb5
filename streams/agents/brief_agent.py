"""The scheduled daily brief: at 07:00 (Asia/Shanghai) the leader worker writes
the previous day's brief (``brief-YYYY-MM-DD.md/.html/.json``) to a directory.

A Faust crontab with ``on_leader=True``, so one worker in the group writes it;
on Mondays it also writes last week's brief, on the 1st last month's
(:func:`sinks.briefs.period_brief`: the same sections over the period).
The case figures come from the database (:func:`sinks.briefs.daily_brief`);
hotspot alerts live only on ``gridhub.alerts``, so :func:`read_alerts` reads
that day's records back from the topic (by timestamp). If the broker cannot be
read, the brief is still written and says it has no hotspot data.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import faust
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import Engine

from routing.district import District
from schemas.alerts import Alert
from schemas.kafka_security import KafkaSecurity
from schemas.periods import Period, last_complete, periods_ending
from sinks.briefs import (
    DEFAULT_TZ,
    BriefNames,
    daily_brief,
    day_bounds,
    period_brief,
    write_brief,
)
from streams.codecs import decode_alert, message_headers
from streams.config import StreamConfig, StreamDeps
from streams.topics import StageTopics

log = logging.getLogger(__name__)

BRIEF_CRON = "0 7 * * *"
# Records are stamped when produced, which may trail the alert's own time.
_TIMESTAMP_SLACK = timedelta(hours=1)


def brief_names(district: District) -> BriefNames:
    """Chinese names of categories, streets and departments from the district data."""
    return BriefNames(
        categories={c.code: c.name_zh for c in district.taxonomy},
        streets=district.grids.streets(),
        departments={code: d.name_zh for code, d in district.departments.items()},
    )


async def read_alerts(
    bootstrap: str,
    topic: str,
    start: datetime,
    end: datetime,
    timeout: float = 30.0,
    security: KafkaSecurity | None = None,
) -> list[Alert]:
    """Alerts on ``topic`` whose records were produced in ``[start, end)`` (with an
    hour of slack either side; callers filter by the alert's own time), read with
    the hub's Kafka security block."""
    consumer = AIOKafkaConsumer(
        topic,  # subscribed at start, so its metadata is loaded; then assigned by hand
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        request_timeout_ms=int(timeout * 1000),
        **(security or KafkaSecurity()).aiokafka(),
    )
    try:
        await consumer.start()
        async with asyncio.timeout(timeout):
            return await _read(consumer, topic, start - _TIMESTAMP_SLACK, end + _TIMESTAMP_SLACK)
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str, wait: float = 10.0) -> set[int]:
    """The topic's partitions once the consumer's metadata has them: right after
    ``start()`` the subscription's metadata may still be on its way."""
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        partitions = consumer.partitions_for_topic(topic)
        if partitions or asyncio.get_running_loop().time() > deadline:
            return set(partitions or ())
        await asyncio.sleep(0.1)


async def _read(
    consumer: AIOKafkaConsumer, topic: str, start: datetime, end: datetime
) -> list[Alert]:
    partitions = await _partitions(consumer, topic)
    tps = [TopicPartition(topic, p) for p in sorted(partitions)]
    if not tps:
        return []
    consumer.unsubscribe()
    consumer.assign(tps)
    firsts = await consumer.offsets_for_times({tp: int(start.timestamp() * 1000) for tp in tps})
    lasts = await consumer.end_offsets(tps)
    todo: dict[TopicPartition, int] = {}
    for tp in tps:
        first = firsts.get(tp)
        if first is not None and first.offset < lasts[tp]:
            consumer.seek(tp, first.offset)
            todo[tp] = lasts[tp]
    end_ms = int(end.timestamp() * 1000)
    alerts: list[Alert] = []
    while todo:
        batches = await consumer.getmany(*todo, timeout_ms=1000)
        for tp, records in batches.items():
            for record in records:
                if record.timestamp >= end_ms or record.offset + 1 >= todo.get(tp, 0):
                    todo.pop(tp, None)
                if record.timestamp >= end_ms:
                    break
                try:
                    alerts.append(decode_alert(record.value, message_headers(record.headers)))
                except ValueError as exc:
                    log.warning(
                        "skipping an undecodable alert at %s/%s: %s", tp, record.offset, exc
                    )
    return alerts


@dataclass(frozen=True)
class DatabaseBriefs:
    """:class:`~streams.config.BriefWriter` on the database projection: the brief's
    figures from :func:`sinks.briefs.daily_brief`, its files by
    :func:`sinks.briefs.write_brief` into ``out_dir``. Built by the composition root."""

    engine: Engine
    out_dir: Path
    names: BriefNames
    tz: str = DEFAULT_TZ

    def write(self, day: date, hotspots: Sequence[Alert] | None, now: datetime) -> list[Path]:
        brief = daily_brief(self.engine, day, self.tz, hotspots=hotspots, names=self.names, now=now)
        return write_brief(brief, self.out_dir)

    def write_period(
        self, period: Period, hotspots: Sequence[Alert] | None, now: datetime
    ) -> list[Path]:
        brief = period_brief(self.engine, period, hotspots=hotspots, names=self.names, now=now)
        return write_brief(brief, self.out_dir)


def register(
    app: faust.App,
    topics: StageTopics,
    config: StreamConfig,
    deps: StreamDeps,
    *,
    cron: str = BRIEF_CRON,
) -> Callable[[date], Awaitable[list[Path]]]:
    """Schedule the brief on ``deps.briefs``; returns the job for one day (for tests
    and re-runs)."""
    briefs = deps.briefs
    if briefs is None:
        raise ValueError("the daily brief needs deps.briefs")
    tz = briefs.tz
    zone = ZoneInfo(tz)

    async def brief_for(day: date) -> list[Path]:
        start, end = day_bounds(day, tz)
        hotspots: list[Alert] | None
        try:
            hotspots = await read_alerts(
                config.bootstrap, config.topics.alerts, start, end, security=config.kafka
            )
        except Exception as exc:
            log.warning("daily brief %s: hotspot alerts unavailable (%s)", day, exc)
            hotspots = None
        paths = await asyncio.to_thread(briefs.write, day, hotspots, deps.clock())
        log.info("daily brief %s written: %s", day, ", ".join(str(p) for p in paths))
        return paths

    async def period_brief_for(period: Period) -> list[Path]:
        hotspots: list[Alert] | None
        try:
            hotspots = await read_alerts(
                config.bootstrap,
                config.topics.alerts,
                period.start,
                period.end,
                security=config.kafka,
            )
        except Exception as exc:
            log.warning(
                "%s brief %s: hotspot alerts unavailable (%s)", period.kind, period.label, exc
            )
            hotspots = None
        paths = await asyncio.to_thread(briefs.write_period, period, hotspots, deps.clock())
        log.info("%s brief %s written: %s", period.kind, period.label, ", ".join(map(str, paths)))
        return paths

    async def yesterday() -> None:
        now = deps.clock()
        today = now.astimezone(zone).date()
        try:
            await brief_for(today - timedelta(days=1))
        except Exception:
            log.exception("daily brief failed")
        # Monday morning: last week's brief; the 1st: last month's.
        for kind in periods_ending(today):
            try:
                await period_brief_for(last_complete(kind, now, tz))
            except Exception:
                log.exception("%s brief failed", kind.value)

    app.crontab(cron, timezone=zone, on_leader=True)(yesterday)
    return brief_for
