"""Manual-ack batches: the stages that batch ack their events only after the
batch's effects are handed over (producer buffer or database), so Faust never
commits an offset past unfinished work."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any, cast

import faust
from faust.types import EventT

from streams.delivery import InOrder


async def event_batches(
    stream: faust.StreamT[Any], size: int, within: float
) -> AsyncIterator[list[EventT[Any]]]:
    """Up to ``size`` events, or what arrived within ``within`` seconds, un-acked,
    each partition's in offset order and each once (see :class:`InOrder`).
    (``noack_take`` yields events although Faust types it as yielding values.)"""
    concrete = cast("faust.Stream[Any]", stream)
    gate = InOrder(concrete.app)
    async for batch in concrete.noack_take(size, within=within):
        admitted = await gate.admit(stream, list(batch))
        if admitted:
            yield cast("list[EventT[Any]]", admitted)


async def ack_all(stream: faust.StreamT[Any], events: Iterable[EventT[Any]]) -> None:
    for event in events:
        await stream.ack(event)
