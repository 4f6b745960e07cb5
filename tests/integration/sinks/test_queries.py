"""CaseQueries: the queue (filters, order, paging), case and report detail, personal data."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from schemas.cases import CaseState, Priority
from sinks.queries import MAX_LIMIT, CaseQueries
from sinks.writer import CaseProjectionWriter
from tests.support.cases import T0, CaseStory, district_load, make_report

CASE_OUT = {
    "id",
    "state",
    "category",
    "priority",
    "grid_code",
    "lead_department",
    "departments",
    "report_count",
    "respond_by",
    "resolve_by",
    "sla_state",
    "rework_count",
    "escalation_level",
    "merged_into",
    "version",
}


@pytest.fixture
def loaded(engine: Engine) -> CaseQueries:
    CaseProjectionWriter(engine).write(district_load(60))
    return CaseQueries(engine)


def test_list_shape_and_order(loaded: CaseQueries) -> None:
    items, total = loaded.list_cases(limit=100)
    assert total == 60 and len(items) == 60
    assert set(items[0]) >= CASE_OUT
    assert {"street_code", "community_code", "title", "opened_at", "updated_at"} <= set(items[0])
    assert {"closed_at", "priority_reasons", "routing_reasons", "location"} <= set(items[0])
    keys = [(i["priority"], -i["opened_at"].timestamp()) for i in items]
    assert keys == sorted(keys)
    assert items[0]["priority"] == "P1"
    assert items[0]["opened_at"].tzinfo is UTC
    assert items[0]["priority_reasons"] == ["category road.pothole"]


def test_filters(loaded: CaseQueries) -> None:
    all_items, _ = loaded.list_cases(limit=100)

    def expect(**filters: Any) -> None:
        items, total = loaded.list_cases(limit=100, **filters)
        wanted = [
            i
            for i in all_items
            if all(
                (name == "department" and (i["lead_department"] == v or v in i["departments"]))
                or i.get(name) == v
                for name, v in filters.items()
            )
        ]
        assert total == len(wanted) > 0, filters
        assert [i["id"] for i in items] == [i["id"] for i in wanted]

    expect(state="in_progress")
    expect(state="open")
    expect(priority="P2")
    expect(grid_code="110105001001002")
    expect(category="road.pothole")
    expect(department="zhujian")
    expect(state="dispatched", priority="P4")
    items, total = loaded.list_cases(state="closed")
    assert (items, total) == ([], 0)


def test_department_filter_matches_co_departments(engine: Engine) -> None:
    story = CaseStory.open("case-joint")
    story.dispatch("chengguan", "gongan")
    CaseProjectionWriter(engine).write(story.events)
    queries = CaseQueries(engine)
    assert queries.list_cases(department="gongan")[1] == 1
    assert queries.list_cases(department="chengguan")[1] == 1
    assert queries.list_cases(department="gong")[1] == 0  # no substring matches


def test_paging(loaded: CaseQueries) -> None:
    everything, total = loaded.list_cases(limit=100)
    pages = []
    for offset in range(0, total, 7):
        page, page_total = loaded.list_cases(limit=7, offset=offset)
        assert page_total == total
        pages.extend(page)
    assert [p["id"] for p in pages] == [i["id"] for i in everything]
    assert loaded.list_cases(limit=10, offset=1000) == ([], 60)
    assert loaded.list_cases(limit=0) == ([], 60)
    assert len(loaded.list_cases(limit=MAX_LIMIT + 100)[0]) == 60
    with pytest.raises(ValueError):
        loaded.list_cases(offset=-1)


def test_case_detail_hides_personal_data(engine: Engine) -> None:
    story = CaseStory.open("case-1", priority=Priority.P2)
    story.dispatch("chengguan")
    story.attach(make_report("r-2", at=T0 + timedelta(minutes=30), name="李四", phone=None))
    CaseProjectionWriter(engine).write(story.events)
    queries = CaseQueries(engine)

    public = queries.get_case("case-1", include_personal=False)
    assert public is not None
    assert set(public) >= CASE_OUT
    assert public["state"] == CaseState.DISPATCHED and public["version"] == 3
    assert [r["id"] for r in public["reports"]] == ["r-case-1", "r-2"]
    assert all("reporter" not in r for r in public["reports"])
    assert "13800138000" not in repr(public) and "张三" not in repr(public)
    assert public["timeline"] == [
        {
            "version": e.version,
            "type": e.type.value,
            "time": e.time,
            "actor": e.actor,
            "actor_name": None,  # system actors name no principal
            "data": e.data,
        }
        for e in story.events
    ]

    private = queries.get_case("case-1", include_personal=True)
    assert private is not None
    assert private["reports"][0]["reporter"] == {"name": "张三", "phone": "13800138000"}
    assert private["reports"][1]["reporter"] == {"name": "李四"}
    assert queries.get_case("no-such-case", include_personal=True) is None


def test_report_detail(engine: Engine) -> None:
    story = CaseStory.open("case-1")
    story.dispatch("chengguan")
    CaseProjectionWriter(engine).write(story.events)
    queries = CaseQueries(engine)
    report = queries.get_report("r-case-1", include_personal=False)
    assert report is not None
    assert report["case_id"] == "case-1"
    assert report["case_state"] == "dispatched"
    assert report["location"]["lon"] == pytest.approx(116.4)
    assert report["received_at"] == T0
    assert "reporter" not in report
    personal = queries.get_report("r-case-1", include_personal=True)
    assert personal is not None and personal["reporter"]["phone"] == "13800138000"
    assert queries.get_report("nope", include_personal=True) is None


def test_count_cases(engine: Engine) -> None:
    queries = CaseQueries(engine)
    assert queries.count_cases() == 0
    CaseProjectionWriter(engine).write(district_load(5))
    assert queries.count_cases() == 5


def test_more_filters(loaded: CaseQueries) -> None:
    """street, sla_state, grid prefixes, several states, text and opened-at range."""
    all_items, _ = loaded.list_cases(limit=100)

    def expect(wanted: list[dict[str, Any]], **filters: Any) -> None:
        items, total = loaded.list_cases(limit=100, **filters)
        assert total == len(wanted), filters
        assert [i["id"] for i in items] == [i["id"] for i in wanted], filters

    expect([i for i in all_items if i["street_code"] == "110105002"], street="110105002")
    expect([i for i in all_items if i["sla_state"] == "on_track"], sla_state="on_track")
    expect([], sla_state="overdue")
    community = "110105001001"
    expect(
        [i for i in all_items if i["grid_code"].startswith(community)], grid_prefixes=[community]
    )
    expect(
        [i for i in all_items if i["grid_code"] in ("110105001002001", "110105002001001")],
        grid_prefixes=["110105001002001", "110105002001001"],
    )
    expect([], grid_prefixes=[])
    expect([], grid_prefixes=["1101050%"])  # a prefix, not a pattern
    expect(
        [i for i in all_items if i["state"] in ("open", "resolved")], states=["open", "resolved"]
    )
    since, until = T0 + timedelta(seconds=10), T0 + timedelta(seconds=20)
    expect([i for i in all_items if since <= i["opened_at"] < until], since=since, until=until)
    expect(all_items, q="POTHOLE")
    expect(all_items, q="坑洞")
    expect([], q="%")
    expect(
        [i for i in all_items if i["state"] == "open" and i["street_code"] == "110105001"],
        state="open",
        street="110105001",
    )


def test_brief_and_snapshot_extras(engine: Engine) -> None:
    story = CaseStory.open("case-1")
    story.dispatch("chengguan")
    story.resolve()
    CaseProjectionWriter(engine).write(story.events)
    queries = CaseQueries(engine)
    brief = queries.get_case_brief("case-1")
    assert brief is not None and set(brief) >= CASE_OUT
    assert "reports" not in brief and "timeline" not in brief
    assert {"grid_codes", "resolution", "satisfaction"} <= set(brief)
    assert queries.get_case_brief("nope") is None


def test_inbox_for_recipients_and_a_submitters_reports(engine: Engine) -> None:
    from schemas.alerts import Notification
    from sinks.outbox import Outbox

    story = CaseStory.open("case-1")  # its report r-case-1 was submitted by grid-worker-1
    CaseProjectionWriter(engine).write(story.events)

    def note(n: int, recipient: str) -> Notification:
        return Notification(
            id=f"n-{n}",
            recipient=recipient,
            channel="app",
            time=T0 + timedelta(minutes=n),
            event_type="org.gridhub.case.resolved",
            subject=f"s{n}",
        )

    Outbox(engine).accept(
        [
            note(1, "duty_office"),
            note(2, "department:chengguan"),
            note(3, "reporter:r-case-1"),
            note(4, "reporter:r-other"),
        ],
        lambda recipient: None,
    )
    queries = CaseQueries(engine)
    got = queries.inbox(["duty_office", "department:chengguan"])
    assert [m["notification_id"] for m in got] == ["n-2", "n-1"]
    mine = queries.inbox(["grid_worker:grid-worker-1"], reports_by="grid-worker-1")
    assert [m["notification_id"] for m in mine] == ["n-3"]
    assert queries.inbox([], reports_by="nobody") == []
    Outbox(engine).mark_read("n-2", "department:chengguan")
    assert [
        m["notification_id"] for m in queries.inbox(["department:chengguan"], unread_only=True)
    ] == []
    assert len(queries.inbox(["duty_office", "department:chengguan"], limit=1)) == 1


def test_case_detail_lists_the_reports_of_cases_merged_into_it(engine: Engine) -> None:
    from tests.integration.sinks.histories import load

    queries = CaseQueries(load(engine))  # c8 was merged into c1
    c1 = queries.get_case("c1", include_personal=False)
    assert c1 is not None
    assert {r["id"]: r["case_id"] for r in c1["reports"]} == {
        "r-c1": "c1",
        "r-c1-b": "c1",
        "r-c8": "c8",
    }
    c8 = queries.get_case("c8", include_personal=False)
    assert c8 is not None and [r["id"] for r in c8["reports"]] == ["r-c8"]
