"""An unreachable database answers 503 with a plain message, quickly — never a 500
or a request that hangs. The outage is real: an engine on a PostgreSQL
URL where nothing listens, or a pool with no free connection."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from gateway.app import create_app
from gateway.deps import GatewayDeps
from gateway.errors import DATABASE_UNAVAILABLE
from gridhub.local.processes import free_port
from sinks.db import is_database_outage, make_engine
from sinks.queries import CaseQueries
from sinks.tokens import TokenStore
from tests.support.gateway import TokenFactory


@pytest.fixture
def dead_engine() -> Iterator[Engine]:
    engine = make_engine(f"postgresql://postgres@127.0.0.1:{free_port()}/gridhub")
    yield engine
    engine.dispose()


def assert_unavailable(response: httpx.Response, started: float) -> None:
    assert response.status_code == 503, response.text
    assert response.json() == {"detail": DATABASE_UNAVAILABLE}
    assert response.headers["Retry-After"] == "5"
    assert "127.0.0.1" not in response.text  # the driver's text stays in the log
    assert time.monotonic() - started < 5


def test_reads_answer_503_when_the_database_is_down(
    deps: GatewayDeps, auth: TokenFactory, dead_engine: Engine
) -> None:
    headers = auth("operator")  # verified against the working token store
    down = dataclasses.replace(deps, queries=CaseQueries(dead_engine))
    with TestClient(create_app(down)) as client:
        for path in ("/api/v1/cases", "/api/v1/cases/990101001001-abc", "/api/v1/reports/x"):
            started = time.monotonic()
            assert_unavailable(client.get(path, headers=headers), started)
        assert client.get("/healthz").status_code == 200


def test_token_checks_answer_503_when_the_database_is_down(
    deps: GatewayDeps, dead_engine: Engine
) -> None:
    down = dataclasses.replace(deps, tokens=TokenStore(dead_engine, secret="s"))
    with TestClient(create_app(down)) as client:
        started = time.monotonic()
        response = client.get("/api/v1/cases", headers={"Authorization": "Bearer gh_whatever"})
        assert_unavailable(response, started)


def test_an_exhausted_pool_answers_503_instead_of_waiting(
    deps: GatewayDeps, auth: TokenFactory, engine: Engine
) -> None:
    headers = auth("operator")
    tiny = make_engine(engine.url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    down = dataclasses.replace(deps, queries=CaseQueries(tiny))
    try:
        with tiny.connect(), TestClient(create_app(down)) as client:  # holds the only one
            started = time.monotonic()
            assert_unavailable(client.get("/api/v1/cases", headers=headers), started)
    finally:
        tiny.dispose()


def test_database_bugs_are_not_outages() -> None:
    bug = IntegrityError("INSERT ...", {}, Exception("duplicate key"))
    assert not is_database_outage(bug)
