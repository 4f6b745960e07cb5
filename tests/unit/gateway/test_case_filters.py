"""GET /api/v1/cases filters added for operators: street, grid prefix, SLA state,
text search, opened-at range, and their validation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from schemas.cases import CaseEventType, SlaState
from sinks.writer import CaseProjectionWriter
from tests.support.cases import T0, CaseStory, make_report
from tests.support.gateway import TokenFactory

CASES = "/api/v1/cases"
GRID_A = "110105001001001"
GRID_A2 = "110105001002001"
GRID_B = "110105002001001"


@pytest.fixture
def seeded(engine: Engine) -> None:
    a = CaseStory.open(
        "case-a", report=make_report("r-a", grid_code=GRID_A, description="井盖 missing_cover")
    )
    a.dispatch("chengguan")
    a.step(CaseEventType.SUPERVISED, sla_state=SlaState.WARNING)
    b = CaseStory.open(
        "case-b",
        report=make_report("r-b", grid_code=GRID_A2, description="路灯 100% out"),
        at=T0 + timedelta(days=1),
    )
    c = CaseStory.open(
        "case-c",
        report=make_report("r-c", grid_code=GRID_B, description="garbage 垃圾"),
        at=T0 + timedelta(days=2),
    )
    c.dispatch("huanbao")
    CaseProjectionWriter(engine).write([*a.events, *b.events, *c.events])


def ids(client: TestClient, headers: dict[str, str], **params: object) -> list[str]:
    response = client.get(CASES, params=params, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == len(body["items"])
    return sorted(item["id"] for item in body["items"])


@pytest.mark.usefixtures("seeded")
def test_filters(client: TestClient, auth: TokenFactory) -> None:
    h = auth("operator")
    assert ids(client, h, street="110105001") == ["case-a", "case-b"]
    assert ids(client, h, grid="110105001001") == ["case-a"]  # a community prefix
    assert ids(client, h, grid=GRID_B) == ["case-c"]
    assert ids(client, h, sla_state="warning") == ["case-a"]
    assert ids(client, h, q="井盖") == ["case-a"]
    assert ids(client, h, q="GARBAGE") == ["case-c"]  # case-insensitive
    assert ids(client, h, q="100%") == ["case-b"]  # wildcards are literal
    assert ids(client, h, q="_") == ["case-a"]
    assert ids(client, h, since=(T0 + timedelta(hours=1)).isoformat()) == ["case-b", "case-c"]
    assert ids(client, h, until=(T0 + timedelta(days=2)).isoformat()) == ["case-a", "case-b"]
    assert ids(
        client,
        h,
        since=(T0 + timedelta(days=1)).isoformat(),
        until=(T0 + timedelta(days=2)).isoformat(),
    ) == ["case-b"]
    assert ids(client, h, state="dispatched", street="110105001") == ["case-a"]


@pytest.mark.usefixtures("seeded")
def test_department_filters_stay_within_its_cases(client: TestClient, auth: TokenFactory) -> None:
    h = auth("department", scope="huanbao")
    assert ids(client, h, street="110105001") == []
    assert ids(client, h, q="garbage") == ["case-c"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"street": "1101"}, "query.street"),
        ({"grid": "11010500100100199"}, "query.grid"),
        ({"grid": "abc"}, "query.grid"),
        ({"sla_state": "late"}, "query.sla_state"),
        ({"q": ""}, "query.q"),
        ({"q": "x" * 101}, "query.q"),
        ({"since": "yesterday"}, "query.since"),
    ],
)
def test_bad_filters_are_422(
    client: TestClient, auth: TokenFactory, params: dict[str, object], field: str
) -> None:
    response = client.get(CASES, params=params, headers=auth("operator"))
    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == [field]
