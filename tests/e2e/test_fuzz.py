"""API fuzzing: schemathesis generates requests from the gateway's own OpenAPI
document (every route, in-process over ASGI, no network) and no answer may be a
server error (``not_a_server_error``).

The app is wired as in production with its in-process twins: a real SQLite
database with seeded cases, real tokens (requests carry an admin token, which
passes every role check; Open311 ``POST requests`` gets a valid ``api_key``), the
demo district, and an in-memory event bus that answers case commands. Bounded:
``MAX_EXAMPLES`` per operation, no deadline per example, well under a minute.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from gateway.app import create_app
from gateway.deps import GatewayDeps
from routing.district import District
from schemas.cases import CaseState
from schemas.topics import TopicNames
from sinks.db import make_engine, upgrade
from sinks.queries import CaseQueries
from sinks.tokens import TokenStore
from tests.support.demo_district import seed_case
from tests.support.gateway import with_stores
from tests.support.seeded_gateway import AgentPublisher, case_work_deps, seed

MAX_EXAMPLES = 10
TOPICS = TopicNames.with_prefix("fuzz.")
STREAM_PATH = "/api/v1/stream/cases"
OPEN311_POST = "/open311/v2/requests.{format}"


class Fuzzed:
    def __init__(self, tmp: Path) -> None:
        url = f"sqlite:///{tmp / 'fuzz.db'}"
        upgrade(url)
        self.engine = make_engine(url)
        tokens = TokenStore(self.engine, secret="fuzz-secret")
        self.admin, _ = tokens.create("admin", "fuzz-admin")
        self.api_key, _ = tokens.create("open311", "fuzz-open311")
        district = District.load()
        publisher = AgentPublisher(commands_topic=TOPICS.case_commands)
        base = GatewayDeps(
            queries=CaseQueries(self.engine),
            tokens=tokens,
            district=district,
            publisher=publisher,
            topics=TOPICS,
        )
        deps = case_work_deps(base, self.engine, tmp, publisher=publisher, action_timeout=0.05)
        self.deps = with_stores(deps, self.engine, max_batch_events=50)
        seed(self.engine)
        now = datetime.now(UTC)
        seed_case(self.engine, "990101001001-fuzz1", now - timedelta(days=1))
        seed_case(
            self.engine,
            "990101001001-fuzz2",
            now - timedelta(hours=5),
            state=CaseState.REJECTED,
            reason="重复",
        )
        self.app = create_app(self.deps)


@pytest.fixture
def fuzzed(tmp_path: Path) -> Iterator[Fuzzed]:
    hub = Fuzzed(tmp_path)
    yield hub
    hub.engine.dispose()


def test_no_server_errors(fuzzed: Fuzzed) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzzed.app)
    # The live feed (SSE) answers by never ending: it has its own tests
    # (tests/unit/gateway/test_feed.py and the end-to-end SSE resume test).
    operations = [result.ok() for result in schema.exclude(path=STREAM_PATH).get_all_operations()]
    assert len(operations) >= 30
    headers = {"Authorization": f"Bearer {fuzzed.admin}"}
    for operation in operations:
        cases = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        )

        @given(case=cases)
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def call(case: Any) -> None:
            if case.path == OPEN311_POST and isinstance(case.body, dict):
                case.body["api_key"] = fuzzed.api_key
            case.call_and_validate(headers=headers, checks=[not_a_server_error])

        try:
            call()
        except Exception as exc:
            raise AssertionError(f"{operation.method.upper()} {operation.path}: {exc}") from exc
