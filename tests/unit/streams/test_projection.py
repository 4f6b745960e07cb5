"""The DB writer while the database is down: it retries the same batch
with exponential back-off capped at ``MAX_BACKOFF_SECONDS`` — no busy loop, no
skipping — and returns (so the agent acks the batch) only once a write succeeded."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from sqlalchemy.exc import OperationalError

from schemas.cases import CaseEvent
from sinks.ports import InMemoryCaseSink, WriteStats
from streams import projection
from streams.projection import MAX_BACKOFF_SECONDS, write_with_retry


class FlakySink(InMemoryCaseSink):
    """Refuses the first ``failures`` writes as an unreachable PostgreSQL would."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.attempts: list[int] = []

    def write(self, events: Sequence[CaseEvent]) -> WriteStats:
        self.attempts.append(len(events))
        if len(self.attempts) <= self.failures:
            raise OperationalError("SELECT 1", {}, Exception("connection refused"))
        return super().write(events)


async def test_a_failing_write_is_retried_with_capped_backoff_until_it_succeeds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slept: list[float] = []

    async def fake_sleep(delay: float) -> None:
        slept.append(delay)

    monkeypatch.setattr(projection.asyncio, "sleep", fake_sleep)
    sink = FlakySink(failures=9)
    await write_with_retry(sink, [])

    assert sink.attempts == [0] * 10  # the same batch every time
    assert sink.writes == 1  # written once, after the outage
    assert slept == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0]
    assert max(slept) == MAX_BACKOFF_SECONDS


async def test_the_writer_does_not_return_while_the_database_is_down(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Returning is what lets the agent ack (and Faust commit) the batch."""
    calls = 0

    async def stop_after_a_while(_delay: float) -> None:
        nonlocal calls
        calls += 1
        if calls == 50:
            raise TimeoutError("still down")

    monkeypatch.setattr(projection.asyncio, "sleep", stop_after_a_while)
    sink = FlakySink(failures=10**6)
    with pytest.raises(TimeoutError):
        await write_with_retry(sink, [])
    assert len(sink.attempts) == 50
    assert sink.writes == 0
