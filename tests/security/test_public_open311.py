"""H2 — the public Open311 reads publish only what is public by policy, and
L5/L6 on the same doors: far dates and a forged Host header."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from gateway.ratelimit import LimitPolicy, RateLimits
from schemas.cases import CaseState
from schemas.publicdata import snap_point
from sinks.models import cases
from tests.support.demo_district import seed_case
from tests.support.security import PUBLIC_URL, Attacked, attacked

V2 = "/open311/v2"
NOW = datetime.now(UTC)


def seed_public_and_private(hub: Attacked) -> None:
    at = NOW - timedelta(hours=1)
    # A grid worker's report in a public category, with a neighbour's phone.
    seed_case(hub.engine, "990101001001-gw", at, description="邻居王五 13912345678 半夜吵闹")
    # A private category (domestic matters): never published.
    seed_case(
        hub.engine,
        "990101001001-dv",
        at,
        category="neighbour_dispute",
        description="邻居12号 13800130012 家暴求助",
    )
    # Rejected with an operator's words.
    seed_case(
        hub.engine,
        "990101001001-rj",
        at,
        state=CaseState.REJECTED,
        reason="举报人张三住在3号楼，恶意举报",
    )
    # Filed through Open311 itself: its own text is free text too, not shown.
    seed_case(
        hub.engine,
        "990101001001-os",
        at,
        category="garbage",
        description="垃圾堆在门口，电话 13700001111，身份证 110105199001011234",
    )
    with hub.engine.begin() as conn:
        conn.execute(
            cases.update()
            .where(cases.c.id == "990101001001-os")
            .values(source=hub.deps.open311_source)
        )


def test_h2_anonymous_reads_carry_no_personal_data_no_private_case_no_reason(
    hub: Attacked, client: TestClient
) -> None:
    seed_public_and_private(hub)
    answer = client.get(f"{V2}/requests.json")
    assert answer.status_code == 200
    found = {r["service_request_id"]: r for r in answer.json()}
    text = answer.text + client.get(f"{V2}/requests.xml").text
    for secret in ("13912345678", "13800130012", "家暴", "王五", "张三", "恶意举报", "13700001111"):
        assert secret not in text, secret
    assert "990101001001-dv" not in found  # a private category
    assert client.get(f"{V2}/requests/990101001001-dv.json").status_code == 404
    assert found["990101001001-gw"]["description"] is None  # not the public's to read
    assert found["990101001001-os"]["description"] is None  # no free text at all
    assert "110105199001011234" not in text and "垃圾堆在门口" not in text
    for request in found.values():
        assert (request["lat"], request["long"]) == snap_point(39.902, 116.383)
        assert (request["lat"], request["long"]) != (39.902, 116.383)


def test_h2_pages_are_small_and_reads_are_limited_per_address(tmp_path: Path) -> None:
    limits = RateLimits(LimitPolicy({"anonymous": "5/minute"}))
    hub = attacked(tmp_path, rate_limits=limits)
    with TestClient(hub.app) as client:
        too_many = client.get(f"{V2}/requests.json?limit=1000")
        assert too_many.status_code == 400
        codes = [client.get(f"{V2}/requests.json").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 200]  # the page-size refusal above counted too
        limited = client.get(f"{V2}/services.json")
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    hub.engine.dispose()


def test_l5_far_dates_are_refused_never_500(hub: Attacked, client: TestClient) -> None:
    for query in (
        "start_date=9999-12-31T00:00:00Z",
        "end_date=0001-01-02T00:00:00Z",
        "start_date=0001-01-01T00:00:00%2B14:00",
    ):
        assert client.get(f"{V2}/requests.json?{query}").status_code == 400, query
    operator = hub.bearer("operator")
    for query in ("end=0001-01-02T00:00:00", "start=9999-12-31T00:00:00"):
        answer = client.get(f"/api/v1/stats/hotspots?{query}", headers=operator)
        assert answer.status_code == 422, query


def test_l6_discovery_does_not_reflect_the_host_header(client: TestClient) -> None:
    answer = client.get(f"{V2}/discovery.json", headers={"Host": "evil.example"})
    assert answer.status_code == 200
    assert "evil.example" not in answer.text
    assert answer.json()["endpoints"][0]["url"] == PUBLIC_URL
