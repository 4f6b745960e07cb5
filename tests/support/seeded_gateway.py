"""Helpers for the case-work API tests (actions, live feed, media, stats, the
phone's tasks): deps with the in-memory twins (command results, case feed), a
publisher that plays the case agent, and seeded cases whose ids carry their
community code like real ones."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from gateway.app import create_app
from gateway.deps import GatewayDeps
from gateway.feed import CaseFeed
from gateway.media import MediaStore
from gateway.publisher import Headers, InMemoryPublisher
from gateway.ratelimit import RateLimits
from gateway.results import CommandResults
from routing.district import District
from schemas.cases import CaseCommand, CaseState, CommandResult
from schemas.envelope import now_utc
from schemas.topics import TopicNames
from sinks.audit import AuditLog
from sinks.db import make_engine, upgrade
from sinks.outbox import Outbox
from sinks.queries import CaseQueries
from sinks.stats import CaseStats
from sinks.tokens import TokenStore
from sinks.writer import CaseProjectionWriter
from streams.logic.casestore import DictCaseStore
from streams.logic.casework import CaseWork
from streams.logic.commands import handle_command
from streams.logic.intake import normalise
from tests.support.cases import CaseStory, make_report
from tests.support.envelopes import report_envelope
from tests.support.gateway import TokenFactory, token_factory

GRID_A = "110105001001001"  # street 110105001, community 110105001001
GRID_B = "110105002001001"  # street 110105002
CASE_A = "110105001001-case-a"  # chengguan leads, zhujian joins; dispatched
CASE_B = "110105002001-case-b"  # huanbao; resolved (waiting for verification)
CASE_C = "110105002001-case-c"  # open, unrouted

Answer = Callable[[CaseCommand], CommandResult | None]


def applied(command: CaseCommand, state: CaseState = CaseState.DISPATCHED) -> CommandResult:
    return CommandResult(
        command_id=command.command_id,
        case_id=command.case_id,
        accepted=True,
        rule="applied",
        state=state,
        version=9,
    )


@dataclass
class AgentPublisher(InMemoryPublisher):
    """Records like :class:`InMemoryPublisher`; a command is answered by ``answer``
    (None: no answer, as when the agent is late) a moment after it is published."""

    results: CommandResults = field(default_factory=CommandResults)
    commands_topic: str = ""
    answer: Answer = applied

    async def publish(self, topic: str, key: bytes | None, value: bytes, headers: Headers) -> None:
        await super().publish(topic, key, value, headers)
        if topic != self.commands_topic:
            return
        result = self.answer(CaseCommand.model_validate_json(value))
        if result is not None:
            asyncio.get_running_loop().call_soon(self.results.deliver, result)

    def commands(self) -> list[CaseCommand]:
        return [CaseCommand.model_validate_json(r.value) for r in self.on(self.commands_topic)]


def case_work_deps(
    deps: GatewayDeps,
    engine: Engine,
    tmp_path: Path,
    *,
    publisher: AgentPublisher | None = None,
    rate_limits: RateLimits | None = None,
    action_timeout: float = 1.0,
    media_max_bytes: int = 64 * 1024,
) -> GatewayDeps:
    """``deps`` with the case-work parts: command results, case feed, media store
    and stats, on ``engine`` and ``tmp_path``."""
    results = publisher.results if publisher is not None else CommandResults()
    return replace(
        deps,
        publisher=publisher or deps.publisher,
        command_results=results,
        case_feed=CaseFeed(buffer=100),
        media=MediaStore(tmp_path / "media", media_max_bytes),
        stats=CaseStats(engine),
        inbox_marker=Outbox(engine),
        rate_limits=rate_limits,
        action_timeout=action_timeout,
        sse_heartbeat=0.2,
    )


def seed(engine: Engine) -> None:
    a = CaseStory.open(CASE_A, report=make_report("rep-a1", grid_code=GRID_A))
    a.dispatch("chengguan", "zhujian")
    a.attach(make_report("rep-a2", grid_code=GRID_A, name="李四", phone="13900000000"))
    b = CaseStory.open(CASE_B, report=make_report("rep-b1", grid_code=GRID_B, category="garbage"))
    b.dispatch("huanbao")
    b.resolve()
    c = CaseStory.open(CASE_C, report=make_report("rep-c1", grid_code=GRID_B, category="other"))
    CaseProjectionWriter(engine).write([*a.events, *b.events, *c.events])


class LiveAgent:
    """The case agent played by the real case logic (``CaseWork`` over a
    ``DictCaseStore``, ``handle_command``), every event projected into the
    gateway's database: for HTTP tests of the whole policy, gateway and agent."""

    def __init__(self, district: District, engine: Engine) -> None:
        self.work = CaseWork(district, DictCaseStore(), merge_window=timedelta(hours=48))
        self.writer = CaseProjectionWriter(engine)
        self.district = district

    def open(self, category: str = "illegal_construction", **report: Any) -> str:
        """A new case from a phone report (routed as the rules say); its id."""
        now = now_utc()
        envelope = report_envelope(category=category, **report).model_copy(update={"time": now})
        events = self.work.on_report(normalise(envelope, self.district, now)).events
        self.writer.write(events)
        return events[-1].case_id

    def answer(self, command: CaseCommand) -> CommandResult:
        outcome = handle_command(self.work, command)
        self.writer.write(outcome.events)
        for follow_up in outcome.follow_ups:
            self.answer(follow_up)
        return outcome.result

    def publisher(self, commands_topic: str) -> AgentPublisher:
        return AgentPublisher(commands_topic=commands_topic, answer=self.answer)


@dataclass
class LiveGateway:
    """The gateway on a fresh SQLite database with real tokens, its commands
    answered by a :class:`LiveAgent`: ``client`` speaks HTTP, ``auth(role, scope)``
    makes headers."""

    client: TestClient
    agent: LiveAgent
    auth: TokenFactory
    engine: Engine

    def act(self, case_id: str, headers: dict[str, str], **body: Any) -> Any:
        return self.client.post(f"/api/v1/cases/{case_id}/actions", json=body, headers=headers)

    def case(self, case_id: str, headers: dict[str, str] | None = None) -> Any:
        found = self.client.get(
            f"/api/v1/cases/{case_id}", headers=headers or self.auth("operator")
        )
        return found.json()


@contextmanager
def live_gateway(tmp_path: Path, district: District) -> Iterator[LiveGateway]:
    url = f"sqlite:///{tmp_path / 'live.db'}"
    upgrade(url)
    engine = make_engine(url)
    tokens = TokenStore(engine, secret="test-secret-for-live-gateway")
    agent = LiveAgent(district, engine)
    topics = TopicNames.with_prefix("live.")
    deps = GatewayDeps(
        queries=CaseQueries(engine),
        tokens=tokens,
        district=district,
        publisher=InMemoryPublisher(),
        topics=topics,
        audit=AuditLog(engine),
    )
    deps = case_work_deps(deps, engine, tmp_path, publisher=agent.publisher(topics.case_commands))
    try:
        with TestClient(create_app(deps)) as client:
            yield LiveGateway(client, agent, token_factory(tokens), engine)
    finally:
        engine.dispose()
