"""The hotspot agent without a broker: Faust's ``test_context()``, in-memory tables."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import faust
import pytest

from gridhub.bootstrap import changelog_topics
from routing.district import District
from schemas.alerts import ALERT_TYPE_PREFIX, Alert, AlertKind
from schemas.envelope import decode_structured_json
from schemas.topics import TopicNames
from sinks.ports import InMemoryCaseSink
from streams.agents import hotspot_agent
from streams.app import build_app
from streams.codecs import encode_report
from streams.config import StreamConfig, StreamDeps
from streams.logic.hotspots import SourceCount
from streams.topics import stage_topics
from tests.support.envelopes import GRID
from tests.support.reports import HOUR, NINE, OTHER_GRID, burst, report_at

Hub = tuple[faust.App, hotspot_agent.HotspotTables, "AlertCapture"]


class AlertCapture:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send(self, **kwargs: Any) -> asyncio.Future[None]:
        self.sent.append(kwargs)
        delivered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        delivered.set_result(None)  # like Faust's FutureMessage, acknowledged at once
        return delivered


@pytest.fixture
def hub(district: District, tmp_path: Path) -> Hub:
    config = StreamConfig(
        app_id=f"unit-{tmp_path.name}",
        bootstrap="127.0.0.1:1",  # never contacted: test_context uses in-memory channels
        topics=TopicNames.with_prefix("unit."),
        datadir=tmp_path,
        web_enabled=False,
    )
    app = build_app(config)
    deps = StreamDeps(district=district, sink=InMemoryCaseSink())
    # Wired exactly as the lead will wire it, next to the other stages.
    topics = stage_topics(app, config)
    tables = hotspot_agent.register(app, topics, config, deps)
    app.finalize()
    capture = AlertCapture()
    topics.alerts.send = capture.send  # type: ignore[method-assign,assignment]
    return app, tables, capture


async def feed(app: faust.App, values: list[bytes], key: bytes) -> None:
    async with app.agents[hotspot_agent.AGENT_NAME].test_context() as agent:
        for value in values:
            await agent.put(value, key=key)
        await asyncio.sleep(0.1)


async def test_a_burst_raises_one_structured_hotspot_alert_keyed_by_grid(hub: Hub) -> None:
    app, tables, capture = hub
    quiet = [report_at(NINE - 20 * HOUR)]
    spike = burst(NINE, 8, source="urn:hotline:12345") + burst(NINE, 2)
    await feed(app, [encode_report(r) for r in quiet + spike], key=GRID[:12].encode())

    [sent] = capture.sent
    assert sent["key"] == GRID.encode()
    assert dict(sent["headers"])["content-type"] == b"application/cloudevents+json"
    event = decode_structured_json(sent["value"])
    alert = Alert.model_validate(event.data)
    assert event.type == f"{ALERT_TYPE_PREFIX}hotspot"
    assert event.id == alert.id == f"hotspot:{GRID}:garbage:2026-11-26T09:00:00Z"
    assert event.subject == GRID
    assert event.time == alert.time == NINE + timedelta(minutes=20)  # event time, not now
    assert alert.kind is AlertKind.HOTSPOT
    assert (alert.grid_code, alert.category) == (GRID, "garbage")
    assert alert.title.startswith("hotspot: 5 reports of garbage in 1 h vs baseline 0.05/h")
    assert alert.detail["sources"] == {"urn:hotline:12345": 5}

    # The windowed counts, per grid × category × source, by event time.
    assert tables.source_counts(NINE + timedelta(minutes=59), GRID) == [
        SourceCount(GRID, "garbage", "urn:hotline:12345", NINE, 8),
        SourceCount(GRID, "garbage", "urn:gridhub:gateway", NINE, 2),
    ]
    assert tables.source_counts(NINE - 20 * HOUR, GRID, "garbage")[0].count == 1
    assert tables.source_counts(NINE + HOUR) == []
    state = tables.state(GRID, "garbage")
    assert state.counts[int(NINE.timestamp())] == 10
    assert state.position == 10  # offset of the last record applied


async def test_retries_count_once_and_other_grids_stay_quiet(hub: Hub) -> None:
    app, tables, capture = hub
    one = report_at(NINE, report_id="phone-retry")
    records = [encode_report(one)] * 6  # a phone on a poor network
    records += [encode_report(r) for r in burst(NINE, 4, grid=OTHER_GRID)]
    records.append(b"not a report")  # skipped here; the case agent dead-letters it
    await feed(app, records, key=GRID[:12].encode())

    assert capture.sent == []
    assert tables.state(GRID, "garbage").counts == {int(NINE.timestamp()): 1}
    assert [row.count for row in tables.source_counts(NINE, category="garbage")] == [4, 1]


async def test_a_retry_that_tips_nothing_and_a_second_window_alerts_again(hub: Hub) -> None:
    app, _, capture = hub
    history = [report_at(NINE - 23 * HOUR)]
    first = burst(NINE, 5)
    second = burst(NINE + HOUR, 5)  # baseline 6 in 24 h: still under the floor
    records = [encode_report(r) for r in history + first + first[:2] + second]
    await feed(app, records, key=GRID[:12].encode())
    ids = [decode_structured_json(m["value"]).id for m in capture.sent]
    assert ids == [
        f"hotspot:{GRID}:garbage:2026-11-26T09:00:00Z",
        f"hotspot:{GRID}:garbage:2026-11-26T10:00:00Z",
    ]


def test_the_changelogs_created_up_front_include_the_hotspot_tables(hub: Hub) -> None:
    """The composition root creates every table changelog before a worker starts
    (``gridhub.bootstrap.changelog_topics``); the windowed ones expire with their windows."""
    app, _, _ = hub
    wanted = changelog_topics(app)
    own = {
        table.changelog_topic.get_topic_name()
        for name, table in app.tables.items()
        if name.startswith("hotspot-")
    }
    assert own <= set(wanted)
    _, counts = wanted[f"{app.conf.id}-hotspot-counts-changelog"]
    assert counts == {"cleanup.policy": "compact,delete", "retention.ms": str(25 * 3600 * 1000)}
    _, baseline = wanted[f"{app.conf.id}-hotspot-baseline-changelog"]
    assert baseline == {"cleanup.policy": "compact"}
