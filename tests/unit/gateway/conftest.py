"""Gateway fixtures: a real SQLite database, real tokens, the demo district and an
in-memory publisher in place of Kafka."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from gateway.app import create_app
from gateway.deps import GatewayDeps
from gateway.publisher import InMemoryPublisher
from routing.district import District
from schemas.topics import TopicNames
from sinks.db import make_engine, upgrade
from sinks.queries import CaseQueries
from sinks.tokens import TokenStore

# A point inside the demo grid 990101001001001 (WGS84), and that grid's codes.
INSIDE = {"lat": 39.902, "lon": 116.383}
GRID = "990101001001001"
COMMUNITY = "990101001001"
OTHER_GRID = "990101001001002"
CATEGORY = "manhole_cover"

TokenFactory = Callable[..., dict[str, str]]


@pytest.fixture(scope="session")
def district() -> District:
    return District.load()


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def tokens(engine: Engine) -> TokenStore:
    return TokenStore(engine, secret="test-secret-for-gateway")


@pytest.fixture
def publisher() -> InMemoryPublisher:
    return InMemoryPublisher()


@pytest.fixture
def deps(
    engine: Engine, tokens: TokenStore, district: District, publisher: InMemoryPublisher
) -> GatewayDeps:
    return GatewayDeps(
        queries=CaseQueries(engine),
        tokens=tokens,
        district=district,
        publisher=publisher,
        topics=TopicNames.with_prefix("test."),
    )


@pytest.fixture
def client(deps: GatewayDeps) -> Iterator[TestClient]:
    with TestClient(create_app(deps)) as test_client:
        yield test_client


@pytest.fixture
def auth(tokens: TokenStore) -> TokenFactory:
    """``auth("operator")`` -> headers carrying a fresh real token of that role."""

    def make(role: str, scope: str | None = None, name: str | None = None) -> dict[str, str]:
        plaintext, _record = tokens.create(role, name or f"test-{role}", scope=scope)
        return {"Authorization": f"Bearer {plaintext}"}

    return make


def report_body(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "category": CATEGORY,
        "description": "井盖缺失 manhole cover missing",
        "location": dict(INSIDE),
        "reporter": {"name": "张三", "phone": "13800000000"},
    }
    body.update(overrides)
    return body
