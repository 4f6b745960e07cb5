"""GET /api/v1/public/... and /public/: no token, public categories only, nothing
finer than a street, no free text; answered from the cache under a burst."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from gateway.app import create_app
from gateway.deps import GatewayDeps
from gateway.publiccache import TtlCache
from schemas.publicdata import personal_data_in
from sinks.public import PublicFigures
from sinks.writer import CaseProjectionWriter
from tests.support.cases import CaseStory, make_report
from tests.support.pdf import pdf_text

PUBLIC = "/api/v1/public"
AT = datetime(2026, 11, 10, 2, 0, tzinfo=UTC)  # 10:00 in the district, a Tuesday
DAY = "2026-11-10"
GRID = "990101001001001"  # demo district: street 990101001
NAME, PHONE, ID_NUMBER = "王小明", "13912345678", "110105199001011234"


def _history() -> list:
    stories = []
    for n, category in enumerate(("road_damage", "garbage", "neighbour_dispute")):
        at = AT + timedelta(hours=n)
        report = make_report(
            f"r-{n}",
            grid_code=GRID,
            category=category,
            at=at,
            name=NAME,
            phone=PHONE,
            description=f"{NAME} 电话 {PHONE} 身份证 {ID_NUMBER}",
        )
        story = CaseStory.open(f"{GRID[:12]}-c{n}", report=report, at=at)
        story.dispatch("chengguan")
        story.resolve()
        story.close()
        stories.append(story)
    return [e for s in stories for e in s.events]


@pytest.fixture
def public_client(deps: GatewayDeps, engine: Engine) -> Iterator[TestClient]:
    CaseProjectionWriter(engine).write(_history())
    public = PublicFigures(engine, [c.code for c in deps.district.taxonomy if c.public])
    with TestClient(create_app(replace(deps, public=public, public_cache=TtlCache(60)))) as c:
        yield c


def test_counts_and_stories_show_public_categories_by_street(public_client: TestClient) -> None:
    counts = public_client.get(f"{PUBLIC}/counts", params={"period": "month", "date": DAY})
    assert counts.status_code == 200
    assert counts.headers["cache-control"] == "public, max-age=60"
    body = counts.json()
    assert body["by_category"] == {"road_damage": 1, "garbage": 1}  # the dispute is private
    assert body["by_street"] == {"990101001": 2}
    assert sum(body["by_day"].values()) == 2
    week = {"period": "week", "date": DAY}
    stories = public_client.get(f"{PUBLIC}/stories", params=week).json()["items"]
    assert {s["category"] for s in stories} == {"road_damage", "garbage"}
    assert all(set(s) == {"category", "street_code", "opened", "closed"} for s in stories)


def test_scorecards_rank_departments_and_streets_with_the_period_before(
    public_client: TestClient,
) -> None:
    quarter = {"period": "quarter", "date": DAY}
    body = public_client.get(f"{PUBLIC}/scorecards", params=quarter).json()
    assert body["period"] == "quarter" and body["label"] == "2026-Q4"
    (dept,) = body["departments"]
    assert dept["key"] == "chengguan" and dept["rank"] == 1 and dept["closed"] == 3
    assert dept["previous"] is None and dept["trend"] is None
    (street,) = body["streets"]
    assert street["key"] == "990101001" and street["closed"] == 3


def test_nothing_public_carries_personal_data_or_free_text(public_client: TestClient) -> None:
    texts = [
        public_client.get(f"{PUBLIC}/{path}", params={"period": period, "date": DAY}).text
        for path in ("names", "scorecards", "counts", "stories")
        for period in ("week", "month", "quarter")
    ]
    texts.append(public_client.get("/public/").text)
    for text in texts:
        assert personal_data_in(text, [NAME]) == []
        assert "电话" not in text and "身份证" not in text


def test_the_bulletin_is_a_pdf(public_client: TestClient) -> None:
    pdf = public_client.get(f"{PUBLIC}/bulletin.pdf", params={"date": DAY})
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    text = pdf_text(pdf.content)
    assert "公开月报 2026-11" in text and "道路破损" in text
    assert personal_data_in(text, [NAME]) == []


def test_a_burst_of_readers_costs_one_query_per_question(deps: GatewayDeps, engine: Engine) -> None:
    CaseProjectionWriter(engine).write(_history())
    calls = []

    class Counting(PublicFigures):
        def counts(self, period):  # type: ignore[no-untyped-def]
            calls.append(period)
            return super().counts(period)

    cache = TtlCache(60)
    app = create_app(replace(deps, public=Counting(engine, ["road_damage"]), public_cache=cache))

    async def burst() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            answers = await asyncio.gather(
                *(client.get(f"{PUBLIC}/counts?period=week&date={DAY}") for _ in range(50))
            )
        return [a.status_code for a in answers]

    assert asyncio.run(burst()) == [200] * 50
    assert len(calls) == 1 and cache.computed == 1


def test_a_date_outside_the_range_is_refused(public_client: TestClient) -> None:
    future = (datetime.now(UTC) + timedelta(days=40)).date().isoformat()
    answer = public_client.get(f"{PUBLIC}/counts", params={"date": future})
    assert answer.status_code == 422


def test_without_public_figures_the_routes_answer_503(client: TestClient) -> None:
    assert client.get(f"{PUBLIC}/counts").status_code == 503
