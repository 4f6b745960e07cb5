"""The consumer's hand-over of a record to the conductor (streams.delivery.hand_over):
no task for a callback that never suspends, Faust's ``wait_first`` escape for one
that does, and the drain loop it lives in kept level with the pinned release."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
from typing import Any

import pytest
from faust.transport.consumer import Consumer

from streams.delivery import GaplessConsumer, GuardedApp, hand_over

# sha256 of the pinned release's Consumer._drain_messages, which GaplessConsumer
# copies with one line changed: a new release that changes it fails here.
UPSTREAM_DRAIN = "44a2500309e83c630493f6828af50166ec8d96a0b3e4fb2bab735f704ae93417"


@pytest.fixture
async def consumer() -> GaplessConsumer:
    # Built inside the test's event loop: the consumer's tasks run on its loop.
    app = GuardedApp("handover-test", broker="kafka://127.0.0.1:1", autodiscover=False)
    consumer = app.consumer
    assert isinstance(consumer, GaplessConsumer)
    return consumer


async def test_a_callback_that_never_suspends_runs_without_a_task(consumer, monkeypatch):
    async def no_race(*coros: Any) -> None:
        raise AssertionError("wait_first was not needed")

    monkeypatch.setattr(consumer, "wait_first", no_race)
    delivered = []

    async def callback(message: str) -> None:
        delivered.append(message)

    tasks = len(asyncio.all_tasks())
    await hand_over(consumer, callback("record"))
    assert delivered == ["record"]
    assert len(asyncio.all_tasks()) == tasks


async def test_a_callback_that_suspends_is_awaited_to_its_end(consumer):
    room = asyncio.Event()
    delivered = []

    async def callback(message: str) -> str:
        await room.wait()  # a stream's queue is full
        await asyncio.sleep(0)  # a bare yield on the way
        delivered.append(message)
        return message

    handing = asyncio.ensure_future(hand_over(consumer, callback("record")))
    await asyncio.sleep(0.01)
    assert not handing.done() and delivered == []
    room.set()
    await asyncio.wait_for(handing, 5)
    assert delivered == ["record"]


async def test_a_suspended_hand_over_gives_way_to_a_rebalance(consumer):
    cancelled = asyncio.Event()

    async def callback() -> None:
        try:
            await asyncio.Event().wait()  # never any room
        except asyncio.CancelledError:
            cancelled.set()
            raise

    handing = asyncio.ensure_future(hand_over(consumer, callback()))
    await asyncio.sleep(0.01)
    consumer.stop_flow()  # what a rebalance does: the flow is suspended
    await asyncio.wait_for(handing, 5)
    await asyncio.wait_for(cancelled.wait(), 5)


async def test_errors_of_either_path_reach_the_drain_loop(consumer):
    async def fails_at_once() -> None:
        raise ValueError("at once")

    async def fails_later() -> None:
        await asyncio.sleep(0.001)
        raise ValueError("later")

    with pytest.raises(ValueError, match="at once"):
        await hand_over(consumer, fails_at_once())
    with pytest.raises(ValueError, match="later"):
        await hand_over(consumer, fails_later())


def test_the_drain_loop_copied_is_the_pinned_releases() -> None:
    source = inspect.getsource(Consumer._drain_messages)
    assert hashlib.sha256(source.encode()).hexdigest() == UPSTREAM_DRAIN, (
        "faust's Consumer._drain_messages changed: bring GaplessConsumer._drain_messages "
        "level with it (its only change is the hand-over) and update UPSTREAM_DRAIN"
    )
