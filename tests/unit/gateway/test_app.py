"""``create_app``'s lifespan: the publisher and the followers (command results,
case feed) start with the application and stop in reverse — also when one of
them fails to start, and whatever one of them raises when it stops; a server process freezes its
start-up heap while it runs."""

from __future__ import annotations

import gc
from dataclasses import dataclass, field, replace

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.deps import GatewayDeps
from gateway.feed import CaseFeed
from gateway.publisher import InMemoryPublisher
from gateway.results import CommandResults


@dataclass
class Journal:
    lines: list[str] = field(default_factory=list)


@dataclass
class Publisher(InMemoryPublisher):
    journal: Journal = field(default_factory=Journal)

    async def start(self) -> None:
        self.journal.lines.append("start publisher")

    async def stop(self) -> None:
        self.journal.lines.append("stop publisher")


class Results(CommandResults):
    def __init__(self, journal: Journal) -> None:
        super().__init__()
        self.journal = journal

    async def start(self) -> None:
        self.journal.lines.append("start results")

    async def stop(self) -> None:
        self.journal.lines.append("stop results")
        raise RuntimeError("stopping fails: the others still stop")


class Feed(CaseFeed):
    def __init__(self, journal: Journal, fail: bool = False) -> None:
        super().__init__()
        self.journal = journal
        self.fail = fail

    async def start(self) -> None:
        if self.fail:
            raise ConnectionError("no broker")
        self.journal.lines.append("start feed")

    async def stop(self) -> None:
        self.journal.lines.append("stop feed")


def parts(deps: GatewayDeps, journal: Journal, *, fail: bool = False) -> GatewayDeps:
    return replace(
        deps,
        publisher=Publisher(journal=journal),
        command_results=Results(journal),
        case_feed=Feed(journal, fail),
    )


def test_followers_start_with_the_app_and_stop_in_reverse(deps: GatewayDeps) -> None:
    journal = Journal()
    with TestClient(create_app(parts(deps, journal))) as client:
        assert client.get("/readyz").status_code == 200
        assert journal.lines == ["start publisher", "start results", "start feed"]
    assert journal.lines[3:] == ["stop feed", "stop results", "stop publisher"]


def test_a_follower_that_fails_to_start_stops_the_others(deps: GatewayDeps) -> None:
    journal = Journal()
    with pytest.raises(ConnectionError), TestClient(create_app(parts(deps, journal, fail=True))):
        pass
    assert journal.lines == [
        "start publisher",
        "start results",
        "stop results",
        "stop publisher",
    ]


def test_a_server_freezes_its_start_up_heap_while_it_runs(deps: GatewayDeps) -> None:
    before = gc.get_freeze_count()
    with TestClient(create_app(deps, freeze_heap=True)):
        assert gc.get_freeze_count() > before
    assert gc.get_freeze_count() == before  # given back to the collector on shutdown
    with TestClient(create_app(deps)):
        assert gc.get_freeze_count() == before
