"""The case agent without a broker (Faust's ``test_context()``, an in-memory sink):
what one batch decides besides the case events — hotspot alerts counted from the
reports new to their cases, what each event reports up, the projection written
before the state — and what its memory keeps (report ids out of the events,
closed cases found again in the archive)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from schemas.alerts import ALERT_TYPE_PREFIX, Alert, AlertKind, Notification
from schemas.cases import (
    Action,
    CaseAction,
    CaseCommand,
    CaseEventType,
    CaseState,
    CommandResult,
    Priority,
)
from schemas.envelope import decode_structured_json
from sinks.ports import InMemoryCaseSink
from streams.agents import case_agent
from streams.app import build_app
from streams.codecs import decode_case_event, encode_report
from streams.config import StreamDeps
from streams.logic.casework import case_id_for
from streams.logic.feedback import FeedbackLinks
from streams.logic.intake import normalise
from streams.topics import stage_topics
from tests.support.cases import make_report
from tests.support.envelopes import GRID, LATER, report_envelope
from tests.support.reports import HOUR, NINE, OTHER_GRID, burst, nearby_report, report_at
from tests.support.streams import Captured, Feed, unit_config, until


class Hub:
    def __init__(
        self,
        district: Any,
        tmp_path: Path,
        sink: InMemoryCaseSink,
        feedback: FeedbackLinks | None = None,
    ) -> None:
        self.config = unit_config(tmp_path)
        self.app = build_app(self.config)
        self.sink = sink
        self.topics = stage_topics(self.app, self.config)
        deps = StreamDeps(district=district, sink=sink, archive=sink, feedback=feedback)
        self.tables = case_agent.register(self.app, self.topics, self.config, deps)
        self.app.finalize()
        self.captured = Captured.every(self.topics)
        self.names = self.config.topics

    def sent(self, name: str) -> list[dict[str, Any]]:
        return self.captured.sent.get(name, [])

    def alerts(self, kind: AlertKind | None = None) -> list[tuple[bytes, Any, Alert]]:
        found = []
        for sent in self.sent("alerts"):
            event = decode_structured_json(sent["value"])
            alert = Alert.model_validate(event.data)
            if kind is None or alert.kind is kind:
                found.append((sent["key"], event, alert))
        return found

    def notification_ids(self) -> list[str]:
        return [decode_structured_json(m["value"]).id for m in self.sent("notifications")]

    def notifications(self) -> list[Notification]:
        return [
            Notification.model_validate(decode_structured_json(m["value"]).data)
            for m in self.sent("notifications")
        ]

    def events(self) -> list[Any]:
        return [decode_case_event(m["value"]) for m in self.sent("case_events")]

    def results(self) -> list[CommandResult]:
        return [CommandResult.model_validate_json(m["value"]) for m in self.sent("command_results")]


@pytest.fixture
def hub(district, tmp_path: Path) -> Hub:
    return Hub(district, tmp_path, InMemoryCaseSink())


def held_version(hub: Hub, case_id: str) -> int | None:
    """The version of a case in the agent's memory: handed there after the batch's
    outputs were sent and its projection written."""
    record = hub.tables.memory.records.get(case_id)
    return record.case.version if record is not None else None


async def feed_reports(hub: Hub, values: list[bytes], key: bytes, done: Any) -> None:
    async with hub.app.agents[case_agent.AGENT_NAME].test_context() as agent:
        feed = Feed(agent)
        for value in values:
            await feed.put(hub.names.reports, value, key=key)
        await until(done, "the batch handled")


async def test_a_burst_raises_one_hotspot_alert_with_its_sources(hub: Hub) -> None:
    quiet = [report_at(NINE - 20 * HOUR)]
    spike = burst(NINE, 8, source="urn:hotline:12345") + burst(NINE, 2)
    reports = quiet + spike
    await feed_reports(
        hub,
        [encode_report(r) for r in reports],
        GRID[:12].encode(),
        lambda: len(hub.tables.memory.reports) == len(reports),
    )
    [(key, event, alert)] = hub.alerts(AlertKind.HOTSPOT)
    assert key == GRID.encode()
    assert event.type == f"{ALERT_TYPE_PREFIX}hotspot"
    assert event.source == "urn:gridhub:hotspot-agent"  # the alerts keep their source
    assert event.id == alert.id == f"hotspot:{GRID}:garbage:2026-11-26T09:00:00Z"
    assert event.subject == GRID
    assert alert.time == NINE + timedelta(minutes=20)  # the fifth report's own time
    assert alert.title.startswith("hotspot: 5 reports of garbage in 1 h vs baseline 0.05/h")
    assert alert.detail["sources"] == {"urn:hotline:12345": 5}
    assert f"duty_office:{alert.id}" in hub.notification_ids()
    # What the next report would be counted against, as memory holds it.
    state = hub.tables.memory.hotspots[f"{GRID}|garbage"]
    assert state.counts[int(NINE.timestamp())] == 10
    assert state.sources[int(NINE.timestamp())] == {
        "urn:hotline:12345": 8,
        "urn:gridhub:gateway": 2,
    }
    assert state.position == len(reports) - 1  # the offset of the last report counted


async def test_retries_count_once_and_other_grids_stay_quiet(hub: Hub) -> None:
    one = report_at(NINE, report_id="phone-retry")
    records = [encode_report(one)] * 6  # a phone on a poor network
    records += [encode_report(r) for r in burst(NINE, 4, grid=OTHER_GRID)]
    records.append(b"not a report")
    await feed_reports(
        hub,
        records,
        GRID[:12].encode(),
        lambda: hub.sent("intake_dlq") and len(hub.tables.memory.reports) == 5,
    )
    assert hub.alerts(AlertKind.HOTSPOT) == []
    hotspots = hub.tables.memory.hotspots
    assert hotspots[f"{GRID}|garbage"].counts == {int(NINE.timestamp()): 1}
    assert hotspots[f"{OTHER_GRID}|garbage"].counts == {int(NINE.timestamp()): 4}
    [dead] = hub.sent("intake_dlq")
    assert dead["value"] == b"not a report"


async def test_a_retry_tips_nothing_and_a_second_window_alerts_again(hub: Hub) -> None:
    history = [report_at(NINE - 23 * HOUR)]
    first = burst(NINE, 5)
    second = burst(NINE + HOUR, 5)  # baseline 6 in 24 h: still under the floor
    reports = history + first + first[:2] + second
    await feed_reports(
        hub,
        [encode_report(r) for r in reports],
        GRID[:12].encode(),
        lambda: len(hub.tables.memory.reports) == len(history + first + second),
    )
    assert [a.id for _, _, a in hub.alerts(AlertKind.HOTSPOT)] == [
        f"hotspot:{GRID}:garbage:2026-11-26T09:00:00Z",
        f"hotspot:{GRID}:garbage:2026-11-26T10:00:00Z",
    ]


def command_on(
    case_id: str, n: int, body: CaseAction, role: str = "operator", scope: str | None = None
) -> CaseCommand:
    return CaseCommand(
        command_id=f"cmd-{n}",
        case_id=case_id,
        actor=f"{role}:1",
        role=role,
        scope=scope,
        time=LATER + timedelta(minutes=n),
        body=body,
    )


async def test_a_p1_case_is_reported_up_and_its_reporters_hear_the_outcome(hub: Hub) -> None:
    """P2 by its category, P1 by a keyword; routing dispatches it; the department
    resolves, the duty office verifies. Each event's report-up knows the priority
    the case had before it and the case's reports."""
    report = make_report(
        "r-p1", grid_code=GRID, category="manhole_cover", at=LATER, description="路面坍塌"
    )
    copy = make_report(  # a second report of the same collapse, 30 m away: attached
        "r-p1-b", grid_code=GRID, category="manhole_cover", at=LATER, description="井盖"
    )
    copy = copy.model_copy(update={"location": report.location})
    case = case_id_for(report)
    key = report.community_code.encode()
    commands = [
        command_on(case, 1, CaseAction(action=Action.RESOLVE), "department", "shizheng"),
        command_on(case, 2, CaseAction(action=Action.VERIFY, passed=True)),
    ]
    async with hub.app.agents[case_agent.AGENT_NAME].test_context() as agent:
        feed = Feed(agent)
        for r in (report, copy, report):  # the first again: a retry
            await feed.put(hub.names.reports, encode_report(r), key=key)
        await until(lambda: len(hub.events()) == 3, "opened, dispatched, attached")
        for command in commands:
            await feed.put(hub.names.case_commands, command.model_dump_json().encode(), key=key)
        await until(lambda: held_version(hub, case) == 6, "both commands applied")

    assert [e.type for e in hub.events()] == [
        CaseEventType.OPENED,
        CaseEventType.DISPATCHED,
        CaseEventType.REPORT_ATTACHED,
        CaseEventType.RESOLVED,
        CaseEventType.VERIFIED,
        CaseEventType.CLOSED,
    ]
    assert all(r.accepted for r in hub.results())
    [(key_, _, alert)] = hub.alerts()  # once: the attach found the case P1 already
    assert (alert.id, alert.priority, key_) == (f"p1_case:{case}", Priority.P1, GRID.encode())
    assert hub.notification_ids() == [
        f"duty_office:p1_case:{case}",
        f"dispatched:department:shizheng:{case}:2",
        f"resolved:reporter:r-p1:{case}:4",
        f"resolved:reporter:r-p1-b:{case}:4",
        f"closed:reporter:r-p1:{case}:6",
        f"closed:reporter:r-p1-b:{case}:6",
    ]
    # The projection, written by the agent itself.
    assert hub.sink.cases[case].version == 6 and hub.sink.cases[case].state is CaseState.CLOSED
    assert sorted(hub.sink.reports) == ["r-p1", "r-p1-b"]
    assert len(hub.sink.timeline) == 6


async def test_case_events_carry_the_new_report_not_every_report(hub: Hub, district) -> None:
    reports = [nearby_report(district, n, north_m=n, category="garbage") for n in range(41)]
    base = reports[0]
    await feed_reports(
        hub,
        [encode_report(r) for r in reports],
        base.community_code.encode(),
        lambda: len(hub.tables.memory.reports) == len(reports),
    )
    attached = [m for m in hub.sent("case_events") if b"report_attached" in m["value"]]
    first, last = decode_case_event(attached[0]["value"]), decode_case_event(attached[-1]["value"])
    assert (first.data["report_count"], last.data["report_count"]) == (2, 41)
    assert (
        last.data["report_id"] == reports[-1].id and "report_ids" not in last.model_dump()["case"]
    )
    sizes = [len(m["value"]) for m in attached[5:]]  # once the heat has raised the priority
    assert max(sizes) - min(sizes) < 16  # a count's digits, not a growing list
    record = hub.tables.memory.records[first.case_id]
    assert record.report_ids == [r.id for r in reports]  # the agent's own record keeps them


class DownSink(InMemoryCaseSink):
    """A database that refuses every write until it is back."""

    down = True

    def write(self, events: Any) -> Any:
        if self.down:
            raise ConnectionError("database is down")
        return super().write(events)


async def test_the_state_waits_for_the_projection(district, tmp_path: Path) -> None:
    sink = DownSink()
    hub = Hub(district, tmp_path, sink)
    report = normalise(report_envelope(category="garbage"), district, LATER)
    async with hub.app.agents[case_agent.AGENT_NAME].test_context() as agent:
        await Feed(agent).put(hub.names.reports, encode_report(report), key=b"k")
        await until(lambda: hub.events(), "the events on Kafka")
        # Sent, but the database has not taken them: the case is not the agent's yet.
        assert hub.tables.memory.records == {}
        sink.down = False
        await until(lambda: hub.tables.memory.records, "the state, once the database has it")
    assert case_id_for(report) in sink.cases


async def test_the_state_goes_to_the_changelog_once_per_case_per_commit(hub: Hub, district) -> None:
    reports = [nearby_report(district, n, north_m=n, category="garbage") for n in range(6)]
    base = reports[0]
    written: list[tuple[str, int]] = []
    table = hub.tables.memory.table
    real_write = table.write

    def write(key: str, value: bytes | None, partition: int) -> None:
        written.append((key, partition))
        real_write(key, value, partition)

    table.write = write  # type: ignore[method-assign]
    async with hub.app.agents[case_agent.AGENT_NAME].test_context() as agent:
        feed = Feed(agent)
        for n, r in enumerate(reports, 1):  # one at a time: six batches
            await feed.put(hub.names.reports, encode_report(r), key=b"k", partition=2)
            await until(lambda n=n: len(hub.tables.memory.reports) == n, "the batch")
        await until(lambda: len(hub.tables.memory.reports) == len(reports), "every report")
    assert written == []  # nothing until the consumer commits
    for hook in hub.app.before_commit:
        hook()
    case = case_id_for(base)
    assert written == [(f"~hotspot|{base.grid_code}|garbage", 2), (case, 2)]
    assert case in table and f"~hotspot|{base.grid_code}|garbage" in table


async def test_a_closed_case_leaves_memory_and_is_found_again(hub: Hub) -> None:
    report = make_report("r-c", grid_code=GRID, category="manhole_cover", at=LATER)
    case = case_id_for(report)
    key = report.community_code.encode()
    memory = hub.tables.memory
    async with hub.app.agents[case_agent.AGENT_NAME].test_context() as agent:
        feed = Feed(agent)
        await feed.put(hub.names.reports, encode_report(report), key=key)
        for n, body, role, scope in (
            (1, CaseAction(action=Action.RESOLVE), "department", "shizheng"),
            (2, CaseAction(action=Action.VERIFY, passed=True), "operator", None),
        ):
            await until(lambda n=n: len(hub.results()) == n - 1, "the previous step")
            command = command_on(case, n, body, role, scope)
            await feed.put(hub.names.case_commands, command.model_dump_json().encode(), key=key)
        await until(lambda: held_version(hub, case) == 5, "closed")
        closed_at = memory.records[case].case.closed_at
        assert closed_at is not None
        assert memory.evict_closed(closed_at + timedelta(minutes=59)) == []
        assert memory.evict_closed(closed_at + timedelta(hours=1)) == [case]
        assert case not in memory.records and report.id not in memory.reports

        # A late copy of its report is still the same report; a rating still lands.
        await feed.put(hub.names.reports, encode_report(report), key=key)
        rate = command_on(case, 3, CaseAction(action=Action.RATE, score=5))
        await feed.put(hub.names.case_commands, rate.model_dump_json().encode(), key=key)
        await until(lambda: held_version(hub, case) == 6, "the rating")
    assert [e.type for e in hub.events()][-1] is CaseEventType.RATED
    assert sum(e.type is CaseEventType.OPENED for e in hub.events()) == 1
    assert hub.results()[-1].accepted and hub.results()[-1].version == 6
    assert memory.records[case].report_ids == [report.id]  # held again, its reports with it
    assert hub.sink.cases[case].satisfaction == 5


async def test_source_systems_get_their_own_statuses_and_reporters_feedback_is_left_to_the_feed(
    district, tmp_path: Path
) -> None:
    """What the public side asks of report-up, decided in the case agent's batch:
    the source system's own status codes on every change of the case it opened,
    and a rating taken only from the reporter of one of the case's reports. The
    reporter's link and the duty office's 回访不满意 item are not sent from here:
    the notification stage derives them from the feed (test_feedback_agents.py)."""
    hub = Hub(district, tmp_path, InMemoryCaseSink(), FeedbackLinks(secret="s3cret"))
    report = make_report(
        "r-cg", grid_code=GRID, category="manhole_cover", at=LATER, source="urn:system:citymgmt/1"
    ).model_copy(update={"external_ref": "CG42"})
    case = case_id_for(report)
    key = report.community_code.encode()
    steps = [
        command_on(case, 1, CaseAction(action=Action.RESOLVE), "department", "shizheng"),
        command_on(case, 2, CaseAction(action=Action.RATE, score=1), "reporter", "r-other"),
        command_on(case, 3, CaseAction(action=Action.RATE, score=2), "reporter", "r-cg"),
    ]
    async with hub.app.agents[case_agent.AGENT_NAME].test_context() as agent:
        feed = Feed(agent)
        await feed.put(hub.names.reports, encode_report(report), key=key)
        for n, command in enumerate(steps, 1):
            await feed.put(hub.names.case_commands, command.model_dump_json().encode(), key=key)
            await until(lambda n=n: len(hub.results()) == n, "the command decided")

    refused, rated = hub.results()[1:]
    assert (refused.accepted, refused.rule) == (False, "scope")
    assert rated.accepted and rated.version == 4
    notes = hub.notifications()
    assert not [n for n in notes if n.id.startswith(("feedback_link:", "feedback_unsatisfied:"))]
    system = [n for n in notes if n.recipient == "system:urn:system:citymgmt/1"]
    assert [(n.data["version"], n.data["source_status"]["code"]) for n in system] == [
        (1, "10"),  # 立案
        (2, "20"),  # 派遣
        (3, "40"),  # 处置完毕
        (4, "40"),  # rated: still 处置完毕
    ]
    assert {n.data["external_ref"] for n in system} == {"CG42"}
