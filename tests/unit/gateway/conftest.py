"""Gateway fixtures: a real SQLite database, real tokens, the demo district and an
in-memory publisher in place of Kafka."""

from __future__ import annotations

from collections.abc import Iterator
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
from tests.support.gateway import TokenFactory, token_factory


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
    return token_factory(tokens)
