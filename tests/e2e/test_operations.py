"""End to end, on the real broker and PostgreSQL, with real ``gridhub worker`` and
``gridhub gateway`` processes shared by the module: case actions answered 200 /
409 / 202, idempotent retries, the role × endpoint matrix, the live SSE feed
resumed with Last-Event-ID, per-token rate limits."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest

from gridhub.local.postgres import create_database_at, drop_database_at
from gridhub.topics import create_topics, delete_topics
from schemas.topics import TopicNames
from sinks.db import make_engine, upgrade
from sinks.tokens import TokenStore
from tests.fixtures.worker import HubEnv, HubProcess, free_port, wait_http, wait_until
from tests.support.gateway import system_or_token

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]

SECRET = "e2e-operations-secret"
# Demo district points (synthetic): grid -> routing
GRID_A = "990101001001001"  # manhole_cover -> shizheng
GRID_B = "990101002001001"  # garbage -> chengguan
GRID_C = "990101001002001"  # other -> no rule: stays open
POINTS = {
    GRID_A: {"lat": 39.9018, "lon": 116.3824},
    GRID_B: {"lat": 39.9018, "lon": 116.3944},
    GRID_C: {"lat": 39.9108, "lon": 116.3824},
}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@dataclass
class Hub:
    base: str
    env: HubEnv
    tokens: TokenStore
    worker: HubProcess
    gateway: HubProcess
    cases: dict[str, str]  # grid -> case id

    def token(self, role: str, scope: str | None = None, name: str | None = None) -> dict[str, str]:
        name = name or f"e2e-{role}-{uuid.uuid4().hex[:6]}"
        plaintext, _ = system_or_token(self.tokens, role, name, scope)
        return {"Authorization": f"Bearer {plaintext}"}

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, timeout=15)


@pytest.fixture(scope="module")
def hub(
    kafka_bootstrap: str, postgres_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Hub]:
    prefix = f"t{uuid.uuid4().hex[:8]}."
    topics = TopicNames.with_prefix(prefix)
    create_topics(kafka_bootstrap, topics.all(), 4, 1)
    db_name = f"t_{uuid.uuid4().hex[:16]}"
    db_url = create_database_at(postgres_server_url, db_name)
    upgrade(db_url)
    engine = make_engine(db_url)
    home = tmp_path_factory.mktemp("operations")
    port = free_port()
    env = HubEnv(
        env={
            **os.environ,
            "GRIDHUB_KAFKA_BOOTSTRAP": kafka_bootstrap,
            "GRIDHUB_TOPIC_PREFIX": prefix,
            "GRIDHUB_APP_ID": f"gridhub-{prefix.strip('.')}",
            "GRIDHUB_DATABASE_URL": db_url,
            "GRIDHUB_HOME": str(home),
            "GRIDHUB_WORKER_WEB_PORT": str(free_port()),
            "GRIDHUB_WORKER_METRICS_PORT": str(free_port()),
            "GRIDHUB_GATEWAY_PORT": str(port),
            "GRIDHUB_METRICS_PORT": str(free_port()),
            "GRIDHUB_TOKEN_SECRET": SECRET,
            "GRIDHUB_RATE_LIMITS": json.dumps({"leader": "20/second"}),
            "GRIDHUB_SSE_HEARTBEAT": "1",
            "GRIDHUB_GATEWAY_SHUTDOWN_GRACE": "1",
        },
        topics=topics,
        db_url=db_url,
        home=home,
    )
    procs: list[HubProcess] = []
    try:
        procs.append(env.spawn("worker"))
        procs.append(env.spawn("gateway"))
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/readyz", timeout=60)
        hub = Hub(base, env, TokenStore(engine, SECRET), procs[0], procs[1], {})
        hub.cases = open_cases(hub)
        yield hub
    finally:
        for proc in procs:
            code = proc.stop()
            print(f"--- {proc.name} (exit {code}) ---\n{proc.log_tail()}")
        engine.dispose()
        drop_database_at(postgres_server_url, db_name)
        try:
            delete_topics(kafka_bootstrap, topics.all(), timeout=15)
        except Exception as exc:  # cleanup only
            print(f"could not delete topics {prefix}*: {exc}")


def open_cases(hub: Hub) -> dict[str, str]:
    """One report per grid, each opening its own case; waits for the projection."""
    reporter = hub.token("grid_worker", name="e2e-phone")
    operator = hub.token("operator")
    categories = {GRID_A: "manhole_cover", GRID_B: "garbage", GRID_C: "other"}
    found: dict[str, str] = {}
    with hub.http() as http:
        report_ids = {}
        for grid, category in categories.items():
            body = {
                "category": category,
                "description": f"e2e {category} 测试",
                "location": POINTS[grid],
                "reporter": {"name": "王五", "phone": "13700000000"},
            }
            response = http.post("/api/v1/reports", json=body, headers=reporter)
            assert response.status_code == 202, response.text
            report_ids[grid] = response.json()["report_id"]
        for grid, report_id in report_ids.items():

            def joined(report_id: str = report_id) -> str | None:
                response = http.get(f"/api/v1/reports/{report_id}", headers=operator)
                return response.json().get("case_id") if response.status_code == 200 else None

            found[grid] = wait_until(joined, 60, f"report in {grid} to open a case")
        expected = {GRID_A: "dispatched", GRID_B: "dispatched", GRID_C: "open"}
        for grid, state in expected.items():
            wait_until(
                lambda grid=grid, state=state: case(http, operator, found[grid])["state"] == state,
                30,
                f"case in {grid} to be {state}",
            )
    return found


def case(http: httpx.Client, headers: dict[str, str], case_id: str) -> dict[str, Any]:
    response = http.get(f"/api/v1/cases/{case_id}", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def act(
    http: httpx.Client, headers: dict[str, str], case_id: str, key: str | None = None, **body: Any
) -> httpx.Response:
    extra = {"Idempotency-Key": key} if key else {}
    return http.post(f"/api/v1/cases/{case_id}/actions", json=body, headers={**headers, **extra})


def timeline_types(http: httpx.Client, headers: dict[str, str], case_id: str) -> list[str]:
    return [entry["type"] for entry in case(http, headers, case_id)["timeline"]]


def test_actions_answer_200_409_and_retries_are_one_event(hub: Hub) -> None:
    case_a = hub.cases[GRID_A]
    shizheng = hub.token("department", "shizheng")
    operator = hub.token("operator")
    with hub.http() as http:
        accepted = act(http, shizheng, case_a, key="accept-1", action="accept")
        assert accepted.status_code == 200, accepted.text
        body = accepted.json()
        assert body["result"]["accepted"] is True and body["result"]["state"] == "in_progress"
        assert body["case"]["id"] == case_a
        assert all("reporter" not in r for r in body["case"]["reports"])

        retry = act(http, shizheng, case_a, key="accept-1", action="accept")
        assert retry.status_code == 200
        assert retry.json()["result"]["command_id"] == body["result"]["command_id"]

        refused = act(http, shizheng, case_a, key="accept-2", action="accept")
        assert refused.status_code == 409
        assert refused.json()["rule"] == "accept"
        assert "in_progress" in refused.json()["detail"]

        resolved = act(http, shizheng, case_a, action="resolve", note="已更换井盖", media=[])
        assert resolved.status_code == 200 and resolved.json()["result"]["state"] == "resolved"

        worker = hub.token("grid_worker", GRID_A, name="e2e-verifier")
        wait_until(
            lambda: (
                case_a
                in [c["id"] for c in http.get("/api/v1/me/tasks", headers=worker).json()["items"]]
            ),
            15,
            "the resolved case among the worker's tasks",
        )
        evidence = case(http, worker, case_a)["resolution"]
        assert evidence == {"note": "已更换井盖"}
        verified = act(http, worker, case_a, key="verify-1", action="verify", passed=True)
        assert verified.status_code == 200 and verified.json()["result"]["state"] == "closed"
        rated = act(http, worker, case_a, action="rate", score=5)
        assert rated.status_code == 200

        wanted = ["opened", "dispatched", "accepted", "resolved", "verified", "closed", "rated"]
        wait_until(lambda: timeline_types(http, operator, case_a) == wanted, 15, "the timeline")
        final = case(http, operator, case_a)
        assert final["state"] == "closed" and final["satisfaction"] == 5
        assert final["timeline"][2]["actor"].startswith("department:")


def test_late_answer_is_202_then_the_same_key_is_one_event(hub: Hub) -> None:
    case_b = hub.cases[GRID_B]
    operator = hub.token("operator")
    with hub.http() as http:
        hub.worker.proc.send_signal(signal.SIGSTOP)  # the case agent cannot answer now
        try:
            started = time.monotonic()
            late = act(http, operator, case_b, key="late-1", action="comment", note="请尽快处理")
            waited = time.monotonic() - started
        finally:
            hub.worker.proc.send_signal(signal.SIGCONT)
        assert late.status_code == 202, late.text
        assert 2.5 < waited < 10
        pending = late.json()
        assert pending["status"] == "pending"

        def answered() -> dict[str, Any] | None:
            response = http.get(pending["status_url"], headers=operator)
            return response.json() if response.status_code == 200 else None

        result = wait_until(answered, 30, "the late answer")["result"]
        assert result["accepted"] and result["command_id"] == pending["command_id"]

        retry = act(http, operator, case_b, key="late-1", action="comment", note="请尽快处理")
        assert retry.status_code == 200
        assert retry.json()["result"]["command_id"] == pending["command_id"]
        wait_until(lambda: "commented" in timeline_types(http, operator, case_b), 15, "the comment")
        time.sleep(0.5)
        assert timeline_types(http, operator, case_b).count("commented") == 1


def test_role_matrix(hub: Hub) -> None:
    case_a, case_b, case_c = hub.cases[GRID_A], hub.cases[GRID_B], hub.cases[GRID_C]
    chengguan = hub.token("department", "chengguan")
    shizheng = hub.token("department", "shizheng")
    worker_b = hub.token("grid_worker", GRID_B)
    worker_c = hub.token("grid_worker", GRID_C)
    leader = hub.token("leader")
    operator = hub.token("operator")
    system = hub.token("system", "urn:e2e")
    with hub.http() as http:
        listed = http.get("/api/v1/cases", headers=chengguan).json()
        assert [c["id"] for c in listed["items"]] == [case_b]
        everything = http.get("/api/v1/cases", headers=leader).json()
        assert {c["id"] for c in everything["items"]} == {case_a, case_b, case_c}
        assert http.get("/api/v1/cases", headers=worker_b).status_code == 403

        for headers, case_id, status in [
            (chengguan, case_b, 200),
            (chengguan, case_c, 404),
            (worker_b, case_b, 200),
            (worker_b, case_a, 404),
            (system, case_b, 403),
        ]:
            assert http.get(f"/api/v1/cases/{case_id}", headers=headers).status_code == status
        detail = case(http, operator, case_b)
        assert detail["reports"][0]["reporter"]["phone"] == "13700000000"
        assert "reporter" not in case(http, leader, case_b)["reports"][0]

        for headers, case_id, body, status in [
            (chengguan, case_c, {"action": "accept"}, 404),  # not its case
            (shizheng, case_b, {"action": "accept"}, 404),
            (chengguan, case_b, {"action": "dispatch"}, 403),  # not a department action
            (worker_c, case_b, {"action": "verify", "passed": True}, 404),  # outside its grid
            (worker_b, case_b, {"action": "verify", "passed": True}, 409),  # not resolved yet
            (leader, case_b, {"action": "escalate"}, 403),
            (system, case_b, {"action": "comment", "note": "x"}, 403),
            (operator, "990101001001-nope", {"action": "comment", "note": "x"}, 404),
        ]:
            response = act(http, headers, case_id, **body)
            assert response.status_code == status, (body, response.text)

        for path, ok, refused in [
            ("queue", [operator, leader, chengguan], [worker_b, system]),
            ("sla", [operator, leader, chengguan], [worker_b]),
            ("hotspots", [operator, leader], [chengguan, worker_b]),
            ("departments", [operator, leader, chengguan], [worker_b]),
            ("grid-workers", [operator, leader], [chengguan]),
        ]:
            for headers in ok:
                assert http.get(f"/api/v1/stats/{path}", headers=headers).status_code == 200
            for headers in refused:
                assert http.get(f"/api/v1/stats/{path}", headers=headers).status_code == 403
        own_sla = http.get("/api/v1/stats/sla", headers=chengguan).json()["items"]
        assert [row["department"] for row in own_sla] == ["chengguan"]
        hot = http.get("/api/v1/stats/hotspots", headers=leader).json()["items"]
        assert {(h["grid_code"], h["category"]) for h in hot} >= {(GRID_C, "other")}

        # the department's inbox gets its dispatch notification (report-up -> outbox)
        def inbox() -> list[dict[str, Any]]:
            items: list[dict[str, Any]] = http.get("/api/v1/me/inbox", headers=chengguan).json()[
                "items"
            ]
            return items

        messages = wait_until(inbox, 30, "the department's notification")
        assert {m["case_id"] for m in messages} == {case_b}
        assert http.get("/api/v1/me/inbox", headers=shizheng).json()["items"] != messages

        uploaded = http.post(
            "/api/v1/media", files={"file": ("p.png", PNG, "image/png")}, headers=worker_b
        )
        assert uploaded.status_code == 201, uploaded.text
        media_id = uploaded.json()["id"]
        assert (hub.env.home / "media" / f"{media_id}.png").read_bytes() == PNG
        assert http.get(f"/api/v1/media/{media_id}", headers=worker_b).content == PNG
        # No case uses the photo yet: only its uploader sees it.
        assert http.get(f"/api/v1/media/{media_id}", headers=leader).status_code == 404
        fake = http.post(
            "/api/v1/media", files={"file": ("p.png", b"<svg/>", "image/png")}, headers=worker_b
        )
        assert fake.status_code == 415


class SSE:
    """Reads SSE messages off one streaming response, with a deadline (the
    gateway pings every second, so a read never blocks for long)."""

    def __init__(self, response: httpx.Response) -> None:
        assert response.status_code == 200
        self.lines = response.iter_lines()

    def next(self, count: int, timeout: float = 20) -> list[dict[str, str]]:
        events: list[dict[str, str]] = []
        current: dict[str, str] = {}
        deadline = time.monotonic() + timeout
        for line in self.lines:
            if time.monotonic() > deadline:
                break
            if line == "":
                if "data" in current:
                    events.append(current)
                    if len(events) == count:
                        return events
                current = {}
            elif not line.startswith(":"):
                name, _, value = line.partition(":")
                current[name] = value.removeprefix(" ")
        raise AssertionError(f"got {len(events)} of {count} events in {timeout}s: {events}")


def data(event: dict[str, str]) -> dict[str, Any]:
    parsed: dict[str, Any] = orjson.loads(event["data"])
    return parsed


def test_sse_delivers_live_and_resumes_without_loss(hub: Hub) -> None:
    case_b, case_c = hub.cases[GRID_B], hub.cases[GRID_C]
    operator = hub.token("operator")
    chengguan = hub.token("department", "chengguan")
    stream_headers = {**operator, "Accept": "text/event-stream"}
    with hub.http() as http, hub.http() as listener:
        with (
            listener.stream("GET", "/api/v1/stream/cases", headers=stream_headers) as live,
            listener.stream("GET", "/api/v1/stream/cases", headers=chengguan) as dept,
        ):
            sse, dept_sse = SSE(live), SSE(dept)
            sent = time.monotonic()
            assert act(http, operator, case_c, action="comment", note="one").status_code == 200
            [first] = sse.next(1)
            assert time.monotonic() - sent < 10
            assert first["event"] == "case"
            assert data(first)["case_id"] == case_c and data(first)["type"] == "commented"
            version = data(first)["version"]
            last_id = first["id"]
            assert act(http, operator, case_b, action="comment", note="for b").status_code == 200
            [for_b] = sse.next(1)
            assert data(for_b)["case_id"] == case_b
            # the department stream saw only its own case's change
            [dept_event] = dept_sse.next(1)
            assert data(dept_event)["case_id"] == case_b
            assert dept_event["id"] == for_b["id"]

        # disconnected: two changes happen meanwhile
        for note in ("two", "three"):
            assert act(http, operator, case_c, action="comment", note=note).status_code == 200
        resume = {**stream_headers, "Last-Event-ID": last_id}
        with listener.stream("GET", "/api/v1/stream/cases", headers=resume) as again:
            replayed = SSE(again).next(3)
        assert [data(e)["case_id"] for e in replayed] == [case_b, case_c, case_c]
        assert [data(e)["version"] for e in replayed[1:]] == [version + 1, version + 2]
        assert [data(e)["data"]["note"] for e in replayed[1:]] == ["two", "three"]
        assert replayed[0]["id"] == for_b["id"]


def test_rate_limit_per_token(hub: Hub) -> None:
    greedy, other = hub.token("leader"), hub.token("leader")
    with hub.http() as http:
        answers = [http.get("/api/v1/categories", headers=greedy) for _ in range(120)]
        codes = [a.status_code for a in answers]
        assert codes[:20] == [200] * 20 and set(codes) == {200, 429}  # 20 in any second
        limited = next(a for a in answers if a.status_code == 429)
        assert int(limited.headers["Retry-After"]) >= 1
        assert http.get("/api/v1/categories", headers=other).status_code == 200
        time.sleep(1.0)
        assert http.get("/api/v1/categories", headers=greedy).status_code == 200


def test_gateway_stops_cleanly_with_an_open_stream(hub: Hub) -> None:
    """An open SSE connection does not keep the gateway from stopping: it is cut
    after the shutdown grace (last test: the module's gateway is stopped here)."""
    headers = hub.token("operator")
    with (
        hub.http() as listener,
        listener.stream("GET", "/api/v1/stream/cases", headers=headers) as live,
    ):
        assert live.status_code == 200
        started = time.monotonic()
        code = hub.gateway.stop(timeout=20)
        assert time.monotonic() - started < 10
        assert code in (0, -signal.SIGTERM)  # uvicorn re-raises the signal it handled
