"""The parts of joint cases in the projection (tasks, extensions, orders) on
SQLite and PostgreSQL: written from the events of the real case logic, the same
rows however the feed is batched (a replay), older versions never win; the duty
office's work lists; the search; the audit log."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import Engine, select

from routing.district import District
from sinks.audit import PERSONAL_DATA_SEARCH, AuditLog, mask_phone
from sinks.duty_models import case_extensions, case_orders, case_tasks
from sinks.models import cases
from sinks.queries import CaseQueries
from sinks.writer import CaseProjectionWriter
from streams.logic.casestore import DictCaseStore
from streams.logic.casework import CaseWork
from streams.logic.intake import normalise
from tests.support.duty import CO, LEAD, Desk, joint_story
from tests.support.envelopes import WHEN, citymgmt

DISTRICT = District.load()
PARTS = (case_tasks, case_extensions, case_orders)


def parts(engine: Engine) -> dict[str, list[dict[str, object]]]:
    with engine.connect() as conn:
        return {
            table.name: [
                dict(r)
                for r in conn.execute(select(table).order_by(*table.primary_key.columns)).mappings()
            ]
            for table in (*PARTS, cases)
        }


def test_parts_are_the_final_snapshots_however_the_feed_is_batched(engine: Engine) -> None:
    desk = joint_story(Desk.open(DISTRICT, reporter={"name": "王五", "phone": "13700000001"}))
    events = desk.events
    CaseProjectionWriter(engine).write(events)  # one batch
    one_batch = parts(engine)
    tasks = one_batch["case_tasks"]
    assert [(t["department"], t["role"], t["state"]) for t in tasks] == [
        (LEAD, "lead", "done"),
        (CO, "co", "reassigned"),
        ("gongan", "co", "done"),
    ]
    final = desk.case
    assert [t["version"] for t in tasks] == [t.version for t in final.tasks]
    [extension] = one_batch["case_extensions"]
    assert extension["state"] == "approved" and extension["until"] == final.resolve_by
    [order] = one_batch["case_orders"]
    assert order["state"] == "answered" and order["level"] == "key" and order["reply"]
    [case] = one_batch["cases"]
    assert case["due_by"] == final.due_by and case["dispatched_at"] == final.dispatched_at

    # Event by event, in reverse with duplicates, in random batches: the same rows.
    orders = [
        [[e] for e in events],
        [[e] for e in reversed(events)] + [events[:3]],
    ]
    rng = random.Random(3)
    shuffled = events + events[2:9]
    rng.shuffle(shuffled)
    orders.append([shuffled[i : i + 4] for i in range(0, len(shuffled), 4)])
    for batches in orders:
        with engine.begin() as conn:
            for table in (*PARTS, cases):
                conn.execute(table.delete())
        writer = CaseProjectionWriter(engine)
        for batch in batches:
            writer.write(batch)
        assert parts(engine) == one_batch


def test_work_lists_of_the_duty_office(engine: Engine) -> None:
    desk = Desk.open(DISTRICT)
    desk.ok(desk.send(action="order", level="挂牌", reply_by=desk.at(60), text="限期说明"))
    desk.ok(
        desk.send(action="order", level="一般", reply_by=desk.at(30), text="请反馈", department=CO)
    )
    until = desk.case.resolve_by.replace(year=desk.case.resolve_by.year + 1)
    desk.ok(desk.dept(CO, action="request_extension", until=until, reason="等鉴定"))
    CaseProjectionWriter(engine).write(desk.events)
    queries = CaseQueries(engine)
    open_orders = queries.orders(state="open")
    assert [(o["id"], o["department"], o["level"]) for o in open_orders] == [
        ("o2", CO, "general"),  # the sooner reply deadline first
        ("o1", LEAD, "listed"),
    ]
    assert open_orders[0]["case"]["category"] == "illegal_construction"
    assert open_orders[0]["case_id"] == desk.case_id
    assert [o["id"] for o in queries.orders(state="open", department=LEAD)] == ["o1"]
    [pending] = queries.extensions(state="pending")
    assert pending["id"] == "x1" and pending["department"] == CO and pending["until"] == until
    desk.ok(desk.dept(CO, action="reply", order="o2", text="已反馈"))
    desk.ok(desk.send(action="decide_extension", approved=False, reason="不同意"))
    CaseProjectionWriter(engine).write(desk.events[-2:])
    assert [o["id"] for o in queries.orders(state="open")] == ["o1"]
    assert queries.extensions(state="pending") == []
    assert queries.extensions(state="refused")[0]["decision"] == "不同意"


def test_search_by_id_number_text_place_and_phone(engine: Engine) -> None:
    a = Desk.open(DISTRICT, reporter={"name": "赵六", "phone": "138 0013 8000"})
    b = Desk.open(DISTRICT, "garbage", description="小区门口垃圾堆积", grid_code="990101002001001")
    CaseProjectionWriter(engine).write([*a.events, *b.events])
    queries = CaseQueries(engine)

    def found(**criteria: object) -> list[tuple[str, list[str]]]:
        return [(r["case"]["id"], r["matched"]) for r in queries.search(**criteria)]  # type: ignore[arg-type]

    assert found(q=a.case_id[:16]) == [(a.case_id, ["id"])]
    assert found(q="垃圾堆积") == [(b.case_id, ["title", "report"])]
    assert found(grid_codes=["990101002001001"]) == [(b.case_id, ["grid"])]
    # Stored as typed, with spaces; found however it is written, never by a part.
    for phone in ("13800138000", "+86 138-0013-8000", "138 0013 8000"):
        assert found(phone=phone) == [(a.case_id, ["phone"])], phone
    assert found(phone="0013 8000") == []
    assert found(q="垃圾堆积", department="huanbao") == []
    assert found(q="垃圾堆积", department="chengguan") == [(b.case_id, ["title", "report"])]
    assert found(q="%") == []  # wildcards are text
    assert found() == []


def test_search_by_case_number(engine: Engine) -> None:

    work = CaseWork(DISTRICT, DictCaseStore(), merge_window=timedelta(hours=48))
    events = work.on_report(
        normalise(citymgmt(case_number="CG2026120700042"), DISTRICT, WHEN)
    ).events
    CaseProjectionWriter(engine).write(events)
    [hit] = CaseQueries(engine).search(q="CG2026120700042")
    assert hit["matched"] == ["external_ref"] and hit["case"]["external_ref"].endswith(
        "CG2026120700042"
    )


def test_a_phone_search_lands_in_the_one_audit_log_masked(engine: Engine) -> None:
    AuditLog(engine).record(
        "operator:p-1",
        PERSONAL_DATA_SEARCH,
        mask_phone("13800138000"),
        actor_role="operator",
        detail={"fields": ["reporter.phone"], "cases": ["c-1", "c-2"]},
    )
    [entry] = AuditLog(engine).entries(action=PERSONAL_DATA_SEARCH)
    assert entry["actor"] == "operator:p-1" and entry["target"] == "138****8000"
    assert entry["detail"]["cases"] == ["c-1", "c-2"] and entry["time"].tzinfo is not None
    assert mask_phone("12345") == "***"  # too short to keep any of it
