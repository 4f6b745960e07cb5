"""The live case feed: sequence, ring buffer, scope filters, Last-Event-ID resume,
and the SSE endpoint over a real HTTP server (uvicorn in a thread)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import Engine

from gateway.deps import GatewayDeps
from gateway.feed import CaseFeed, FeedItem, summarise
from gateway.routes.stream import event_stream
from schemas.cases import CaseEvent, CaseEventType
from streams.codecs import encode_case_event
from tests.fixtures.worker import wait_until
from tests.support.cases import CaseStory, make_report
from tests.support.gateway import TokenFactory
from tests.support.seeded_gateway import case_work_deps
from tests.support.served import SSE, Server

GRID_A = "110105001001001"
GRID_B = "110105002001001"


def story(case_id: str, grid: str, lead: str) -> CaseStory:
    s = CaseStory.open(case_id, report=make_report(f"r-{case_id}", grid_code=grid))
    s.dispatch(lead)
    return s


def raw(event: CaseEvent) -> bytes:
    return encode_case_event(event)[0]


def everything(item: FeedItem) -> bool:
    return True


def test_summary_leaves_out_the_report_and_its_personal_data() -> None:
    opened = story("110105001001-x", GRID_A, "chengguan").events[0]
    assert opened.report is not None and opened.report.reporter is not None
    case_id, grids, departments, payload = summarise(raw(opened))
    assert case_id == "110105001001-x" and grids == (GRID_A,) and departments == frozenset()
    data = orjson.loads(payload)
    assert set(data) == {"type", "case_id", "version", "time", "actor", "data", "case"}
    assert data["type"] == "opened" and data["version"] == 1
    assert "张三" not in payload.decode() and "13800138000" not in payload.decode()
    with pytest.raises(ValueError):
        summarise(b'{"type": "org.other", "data": {}}')


def test_returned_case_still_reaches_the_department_that_returned_it() -> None:
    s = story("110105001001-r", GRID_A, "chengguan")
    returned = s.step(
        CaseEventType("returned"),
        data={"reason": "not ours", "department": "chengguan"},
        lead_department=None,
        departments=[],
    )
    assert "chengguan" in summarise(raw(returned))[2]


async def test_subscribers_get_what_their_scope_covers() -> None:
    feed = CaseFeed(buffer=10)
    ops = feed.subscribe(everything)
    dept = feed.subscribe(lambda item: "huanbao" in item.departments)
    a, b = story("110105001001-a", GRID_A, "chengguan"), story("110105002001-b", GRID_B, "huanbao")
    for event in [*a.events, *b.events]:
        feed.ingest(raw(event))
    feed.ingest(b"not json")  # skipped, no sequence number used
    assert [ops.queue.get_nowait().seq for _ in range(4)] == [1, 2, 3, 4]
    assert [dept.queue.get_nowait().seq for _ in range(dept.queue.qsize())] == [4]
    assert feed.seq == 4 and feed.subscribers == 2
    feed.unsubscribe(dept)
    assert feed.subscribers == 1


async def test_resume_from_the_buffer_or_reset() -> None:
    feed = CaseFeed(buffer=5)
    s = story("110105001001-a", GRID_A, "chengguan")
    for n in range(6):
        s.step(CaseEventType("commented"), data={"note": str(n)})
    for event in s.events:  # 8 events, the buffer keeps the last 5 (seq 4..8)
        feed.ingest(raw(event))

    resumed = feed.subscribe(everything, feed.event_id(5))
    assert [i.seq for i in resumed.backlog] == [6, 7, 8] and resumed.reset is None
    assert resumed.cursor == 5
    edge = feed.subscribe(everything, feed.event_id(3))  # 4 is the oldest kept: no gap
    assert [i.seq for i in edge.backlog] == [4, 5, 6, 7, 8]
    for too_old in (feed.event_id(2), "other-3", feed.event_id(99), "garbage", f"{feed.epoch}-x"):
        lost = feed.subscribe(everything, too_old)
        assert lost.reset is not None and lost.backlog == [], too_old
        assert lost.cursor == 8
    current = feed.subscribe(everything, feed.event_id(8))
    assert current.backlog == [] and current.reset is None


async def test_a_subscriber_that_falls_behind_is_ended_not_blocking() -> None:
    feed = CaseFeed(buffer=100, queue=2)
    slow = feed.subscribe(everything)
    s = story("110105001001-a", GRID_A, "chengguan")
    for n in range(3):
        s.step(CaseEventType("commented"), data={"note": str(n)})
    for event in s.events:
        feed.ingest(raw(event))
    assert slow.overflowed and slow.queue.qsize() == 2
    stream = event_stream(feed, feed.subscribe(everything, feed.event_id(0)), heartbeat=0.05)
    # a fresh stream resuming from 0 gets the whole buffer, then waits (ping)
    frames = [await anext(stream) for _ in range(7)]
    assert frames[0].startswith(b"retry: ") and frames[-1] == b": ping\n\n"
    assert [f.split(b"\n")[0] for f in frames[1:6]] == [
        f"id: {feed.event_id(n)}".encode() for n in range(1, 6)
    ]
    await stream.aclose()
    assert feed.subscribers == 1  # the closed stream unsubscribed; ``slow`` remains


@pytest.fixture
def served(deps: GatewayDeps, engine: Engine, tmp_path: Path) -> Iterator[tuple[Server, CaseFeed]]:
    ops = case_work_deps(deps, engine, tmp_path)
    assert ops.case_feed is not None
    server = Server(ops)
    server.start()
    try:
        yield server, ops.case_feed
    finally:
        server.stop()


def test_sse_live_filtered_and_resumed(served: tuple[Server, CaseFeed], auth: TokenFactory) -> None:
    server, feed = served
    a, b = story("110105001001-a", GRID_A, "chengguan"), story("110105002001-b", GRID_B, "huanbao")

    def ingest(*events: CaseEvent) -> None:
        """Feed events on the server's own loop, as its Kafka follower would."""
        loop = server.server.servers[0].get_loop()
        for event in events:
            loop.call_soon_threadsafe(feed.ingest, raw(event))

    operator, huanbao = auth("operator"), auth("department", scope="huanbao")
    worker_b = auth("grid_worker", scope=GRID_B)
    with httpx.Client(base_url=server.base, timeout=10) as http:
        with (
            http.stream("GET", "/api/v1/stream/cases", headers=operator) as ops_stream,
            http.stream("GET", "/api/v1/stream/cases", headers=huanbao) as dept_stream,
            http.stream("GET", "/api/v1/stream/cases", headers=worker_b) as worker_stream,
        ):
            assert ops_stream.status_code == 200
            assert ops_stream.headers["content-type"].startswith("text/event-stream")
            wait_until(lambda: feed.subscribers == 3, 5, "three subscribers", interval=0.02)
            ingest(*a.events, *b.events)
            seen = SSE(ops_stream).next(4)
            assert [e["event"] for e in seen] == ["case"] * 4
            assert [orjson.loads(e["data"])["case_id"] for e in seen] == [
                a.case.id,
                a.case.id,
                b.case.id,
                b.case.id,
            ]
            ids = [e["id"] for e in seen]
            assert ids == [feed.event_id(n) for n in (1, 2, 3, 4)]
            # huanbao's first sight of case b is its dispatch (the opening has no department)
            [dept_seen] = SSE(dept_stream).next(1)
            assert orjson.loads(dept_seen["data"])["type"] == "dispatched"
            assert dept_seen["id"] == feed.event_id(4)
            worker_seen = SSE(worker_stream).next(2)
            assert {orjson.loads(e["data"])["case"]["grid_code"] for e in worker_seen} == {GRID_B}
        wait_until(lambda: feed.subscribers == 0, 5, "disconnects to unsubscribe", interval=0.05)

        # while the operator is away, a change; it resumes after id 2 and gets 3, 4, 5
        a.step(CaseEventType("commented"), data={"note": "1"})
        ingest(a.events[-1])
        resume = {**operator, "Last-Event-ID": ids[1]}
        with http.stream("GET", "/api/v1/stream/cases", headers=resume) as again:
            sse = SSE(again)
            replayed = sse.next(3)
            assert [e["id"] for e in replayed] == [feed.event_id(n) for n in (3, 4, 5)]
            ingest(a.events[-1])  # and live changes keep coming after the replay
            assert sse.next(1)[0]["id"] == feed.event_id(6)

        stale = {**operator, "Last-Event-ID": "deadbeef-1"}
        with http.stream("GET", "/api/v1/stream/cases", headers=stale) as reset:
            first = SSE(reset).next(1)[0]
            assert first["event"] == "reset"

        assert http.get("/api/v1/stream/cases").status_code == 401
        system = http.get("/api/v1/stream/cases", headers=auth("system", scope="x"))
        assert system.status_code == 403
        nodept = http.get("/api/v1/stream/cases", headers=auth("department"))
        assert nodept.status_code == 403
