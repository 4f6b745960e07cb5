"""Helpers for the case-work API tests (actions, live feed, media, stats, the
phone's tasks): deps with the in-memory twins (command results, case feed), a
publisher that plays the case agent, and seeded cases whose ids carry their
community code like real ones."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from sqlalchemy import Engine

from gateway.deps import GatewayDeps
from gateway.feed import CaseFeed
from gateway.media import MediaStore
from gateway.publisher import Headers, InMemoryPublisher
from gateway.ratelimit import RateLimits
from gateway.results import CommandResults
from schemas.cases import CaseCommand, CaseState, CommandResult
from sinks.outbox import Outbox
from sinks.stats import CaseStats
from sinks.writer import CaseProjectionWriter
from tests.support.cases import CaseStory, make_report

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
