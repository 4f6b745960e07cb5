"""``gridhub simulate``: what it generates (mix, repeats, determinism, every event
valid for the demo district) and how the simulated departments answer cases —
all without a broker, through the real intake and case logic."""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from gridhub.simulate import (
    SOURCES,
    ActionPolicy,
    FieldActors,
    Inbound,
    Mix,
    TrafficGenerator,
    read_case_event,
)
from gridhub.simulate.texts import corpus
from routing.district import District
from schemas.cases import (
    Action,
    CaseCommand,
    CaseEvent,
    CaseEventType,
    CaseSnapshot,
    CaseState,
    Priority,
)
from schemas.envelope import decode_kafka
from schemas.reports import Report
from streams.codecs import case_event_cloudevent
from streams.logic.casestore import DictCaseStore
from streams.logic.casework import CaseWork
from streams.logic.commands import handle_command
from streams.logic.intake import normalise

START = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def district() -> District:
    return District.load()


def stream(district: District, count: int, seed: int = 7, **mix: object) -> list[Inbound]:
    generator = TrafficGenerator(district, seed, Mix(**mix) if mix else None)  # type: ignore[arg-type]
    return [generator.next(START + timedelta(seconds=n * 0.5)) for n in range(count)]


def as_report(inbound: Inbound, district: District) -> Report:
    """Through the Kafka binding and the real intake, as the worker sees it."""
    value, headers = inbound.encode()
    envelope = decode_kafka(value, headers, inbound.key)
    return normalise(envelope, district, START)


def metres(a: Report, b: Report) -> float:
    assert a.location is not None and b.location is not None
    dy = (a.location.lat - b.location.lat) * 111_320
    dx = (a.location.lon - b.location.lon) * 111_320 * math.cos(math.radians(a.location.lat))
    return math.hypot(dx, dy)


def test_every_generated_event_passes_intake(district):
    events = stream(district, 3000)
    reports = [as_report(inbound, district) for inbound in events]
    assert {inbound.source for inbound in events} == set(SOURCES)
    assert {r.grid_code for r in reports} == set(district.grids.codes())
    categories = {r.category for r, i in zip(reports, events, strict=True) if i.source == "report"}
    assert categories == set(district.taxonomy.codes())
    assert any(inbound.binary for inbound in events)  # 数字城管 speaks both modes
    caps = [i for i in events if i.source == "cap"]
    assert all(i.envelope.datacontenttype == "application/cap+xml" for i in caps)
    assert all(isinstance(i.envelope.data, str) and "<alert" in i.envelope.data for i in caps)


def test_mix_follows_the_shares(district):
    events = stream(district, 6000, report=50, citymgmt=30, sensor=20, cap=0)
    share = Counter(i.source for i in events)
    assert share["cap"] == 0
    assert abs(share["report"] / 6000 - 0.5) < 0.03
    assert abs(share["citymgmt"] / 6000 - 0.3) < 0.03
    assert abs(share["sensor"] / 6000 - 0.2) < 0.03


def test_mix_parse_and_validation():
    mix = Mix.parse("report=1, sensor=3", retry=0.2)
    assert mix.weights == (1.0, 0.0, 3.0, 0.0)
    assert mix.retry == 0.2
    for bad in ("report", "bogus=1", "report=x", "report=0"):
        with pytest.raises(ValueError):
            Mix.parse(bad)
    with pytest.raises(ValueError):
        Mix(near_duplicate=0.8, retry=0.5)


def test_near_duplicates_and_retries_repeat_a_recent_report(district):
    events = stream(district, 3000, report=1, citymgmt=0, sensor=0, cap=0)
    reports = [as_report(inbound, district) for inbound in events]
    kinds = Counter(i.repeat for i in events)
    assert 250 < kinds["near"] < 650  # 15 % of 3000
    assert 60 < kinds["retry"] < 250  # 5 %
    seen: dict[str, int] = {}
    for n, (inbound, report) in enumerate(zip(events, reports, strict=True)):
        if inbound.repeat == "retry":
            earlier = events[seen[report.id]]
            assert earlier.envelope == inbound.envelope  # the very same event
        elif inbound.repeat == "near":
            assert report.id not in seen
            radius = district.taxonomy.get(report.category).dedup_radius_m
            matches = [
                reports[m]
                for m in range(max(0, n - 400), n)
                if reports[m].category == report.category
                and metres(reports[m], report) <= min(40.0, radius * 0.4) + 0.5
                and report.received_at - reports[m].received_at <= timedelta(minutes=10)
            ]
            assert matches, f"near-duplicate {report.id} has no original nearby"
        else:
            assert report.id not in seen
        seen.setdefault(report.id, n)


def test_sources_repeat_like_real_ones(district):
    events = stream(district, 4000, report=0, citymgmt=40, sensor=40, cap=20)
    reports = [as_report(inbound, district) for inbound in events]
    alarms = Counter(
        r.attributes["device_id"]
        for r, i in zip(reports, events, strict=True)
        if i.source == "sensor"
    )
    assert len(alarms) <= 40 and alarms.most_common(1)[0][1] >= 20  # a few devices alarm a lot
    republished = [r for r, i in zip(reports, events, strict=True) if i.repeat == "republish"]
    assert republished
    first_ids = {
        r.id
        for r, i in zip(reports, events, strict=True)
        if i.source == "citymgmt" and not i.repeat
    }
    assert all(r.id in first_ids for r in republished)  # same case number, same report
    alerts = {
        r.attributes["fold_key"] for r, i in zip(reports, events, strict=True) if i.source == "cap"
    }
    updates = [r for r, i in zip(reports, events, strict=True) if i.repeat == "update"]
    cancels = [r for r, i in zip(reports, events, strict=True) if i.repeat == "cancel"]
    assert updates and cancels
    for report in updates + cancels:
        assert set(report.attributes["refers_to"]) <= alerts
    assert all(r.attributes["cancel"] for r in cancels)


def test_same_seed_same_traffic(district):
    def encoded(seed: int) -> list[tuple[bytes, bytes]]:
        return [(i.key, i.encode()[0]) for i in stream(district, 500, seed=seed)]

    assert encoded(3) == encoded(3)
    assert encoded(3) != encoded(4)


# --------------------------------------------------------------------------- actors


def snapshot(state: CaseState, version: int, department: str | None = "chengguan") -> CaseSnapshot:
    return CaseSnapshot(
        id="990101001001-c0001",
        state=state,
        category="garbage",
        priority=Priority.P4,
        grid_code="990101001001001",
        street_code="990101001",
        community_code="990101001001",
        lead_department=department,
        departments=[department] if department else [],
        version=version,
        opened_at=START,
        updated_at=START,
    )


def event(kind: CaseEventType, state: CaseState, version: int) -> CaseEvent:
    case = snapshot(state, version)
    return CaseEvent(case_id=case.id, version=version, type=kind, time=START, actor="x", case=case)


def test_departments_accept_resolve_and_workers_verify():
    actors = FieldActors(seed=1, policy=ActionPolicy(accept=1.0, verify_pass=1.0, delay=2.0))
    [accept] = actors.plan(event(CaseEventType.DISPATCHED, CaseState.DISPATCHED, 2))
    assert accept.action.action is Action.ACCEPT
    assert (accept.command.role, accept.command.scope) == ("department", "chengguan")
    assert 1.0 <= accept.delay <= 3.0
    assert accept.command.partition_key == b"990101001001"
    [resolve] = actors.plan(event(CaseEventType.ACCEPTED, CaseState.IN_PROGRESS, 3))
    assert resolve.action.action is Action.RESOLVE and resolve.action.note
    [verify] = actors.plan(event(CaseEventType.RESOLVED, CaseState.RESOLVED, 4))
    assert verify.action.action is Action.VERIFY and verify.action.passed
    assert (verify.command.role, verify.command.scope) == ("grid_worker", "990101001001001")
    for planned in (accept, resolve, verify):  # what goes on the wire parses back
        CaseCommand.model_validate_json(planned.command.model_dump_json())
    # The same event again (a replay) plans nothing new; other events plan nothing.
    assert actors.plan(event(CaseEventType.DISPATCHED, CaseState.DISPATCHED, 2)) == []
    assert actors.plan(event(CaseEventType.REPORT_ATTACHED, CaseState.DISPATCHED, 5)) == []


def test_returns_and_failed_verifications_follow_the_policy():
    actors = FieldActors(seed=1, policy=ActionPolicy(accept=0.0, verify_pass=0.0))
    [back] = actors.plan(event(CaseEventType.DISPATCHED, CaseState.DISPATCHED, 2))
    assert back.action.action is Action.RETURN and back.action.reason
    [fail] = actors.plan(event(CaseEventType.RESOLVED, CaseState.RESOLVED, 4))
    assert fail.action.passed is False and fail.action.reason
    assert (
        FieldActors(policy=ActionPolicy(enabled=False)).plan(
            event(CaseEventType.DISPATCHED, CaseState.DISPATCHED, 2)
        )
        == []
    )


def test_decisions_do_not_depend_on_arrival_order():
    events = [event(CaseEventType.DISPATCHED, CaseState.DISPATCHED, v) for v in range(2, 40)]
    one = [p for e in events for p in FieldActors(seed=5).plan(e)]
    other = [p for e in reversed(events) for p in FieldActors(seed=5).plan(e)]
    assert sorted(p.command.command_id for p in one) == sorted(p.command.command_id for p in other)
    by_id = {p.command.command_id: p.label for p in one}
    assert all(by_id[p.command.command_id] == p.label for p in other)
    assert {p.label for p in one} == {"accept", "return"}


def test_read_case_event_reads_the_public_feed():
    original = event(CaseEventType.DISPATCHED, CaseState.DISPATCHED, 2)
    value = encode_structured_case_event(original)
    assert read_case_event(value, [("content-type", b"application/cloudevents+json")]) == original
    assert read_case_event(b"{not json", []) is None


def encode_structured_case_event(case_event: CaseEvent) -> bytes:
    return orjson.dumps(case_event_cloudevent(case_event))


def test_simulated_traffic_runs_the_loop_in_process(district):
    """Generated events through the real case logic, answered by the simulated
    departments: near-duplicates merge, retries are no-ops, and cases get closed."""
    work = CaseWork(district, DictCaseStore(), timedelta(hours=48))
    actors = FieldActors(seed=2, policy=ActionPolicy(accept=0.8, verify_pass=0.7))
    inbound = stream(district, 400, seed=2, report=80, citymgmt=10, sensor=10, cap=0)
    queue: list[CaseEvent] = []
    kinds: Counter[str] = Counter()
    for item in inbound:
        outcome = work.on_report(as_report(item, district))
        assert outcome.dead_letter is None
        kinds["duplicate"] += outcome.duplicate
        queue += outcome.events
    applied: Counter[str] = Counter()
    while queue:
        case_event = queue.pop(0)
        kinds[case_event.type.value] += 1
        for planned in actors.plan(case_event):
            result = handle_command(work, planned.command)
            applied[planned.label] += result.result.accepted
            queue += result.events
    assert kinds["duplicate"] >= 10  # retries and republished case numbers
    assert kinds["report_attached"] >= 20  # near-duplicates and repeating sensors merged
    assert applied["accept"] and applied["return"] and applied["resolve"]
    assert applied["verify_passed"] and applied["verify_failed"], applied
    assert kinds["closed"] >= 10 and kinds["reworked"] >= 1


def test_the_corpus_fits_the_demo_district(district: District) -> None:
    """The words of corpus.yaml name only categories and metrics the district knows,
    carry their placeholders, and sensor alarms read above their thresholds."""
    words = corpus()
    categories = {c.code for c in district.taxonomy.all()}
    for per_category in (words.report_texts, words.resolve_notes, words.category_weights):
        assert set(per_category) <= categories
    assert all("{place}" in text for texts in words.report_texts.values() for text in texts)
    assert all("{place}" in t and "{name}" in t for t in words.generic_texts)
    assert all("{area}" in template.headline for template in words.cap_templates)
    assert set(words.sensor_profiles) == {m.metric for m in district.sources.metrics()}
    for threshold, _, low, high in words.sensor_profiles.values():
        assert threshold < low <= high
    assert words.landmarks and words.surnames and words.given_names
    assert len(words.citymgmt_statuses) >= 2


def test_co_departments_do_their_part_and_the_lead_resolves_after(district):
    """A joint case: the co-department resolves its task, and the lead resolves
    only once no co task is open (the case policy would refuse it before)."""
    from tests.support.duty import CO, LEAD, Desk

    actors = FieldActors(seed=1, policy=ActionPolicy(accept=1.0, verify_pass=1.0, delay=2.0))
    desk = Desk.open(district)
    dispatched = desk.events[-1]
    planned = actors.plan(dispatched)
    assert sorted((p.command.scope, p.action.action.value) for p in planned) == [
        (LEAD, "accept"),
        (CO, "resolve"),
    ]
    assert len({p.command.command_id for p in planned}) == 2
    from streams.logic.commands import handle_command

    work = desk.work
    by = {p.command.scope: p.command for p in planned}
    accepted = handle_command(work, by[LEAD])
    assert actors.plan(accepted.events[-1]) == []  # the co task is still open
    done = handle_command(work, by[CO])
    [resolve] = actors.plan(done.events[-1])
    assert (resolve.command.scope, resolve.action.action) == (LEAD, Action.RESOLVE)
    assert handle_command(work, resolve.command).result.accepted
