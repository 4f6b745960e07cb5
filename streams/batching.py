"""Manual-ack batches: the stages that batch ack their events only after the
batch's effects are handed over (producer buffer or database), so Faust never
commits an offset past unfinished work."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any, cast

import faust
from faust.types import EventT


async def event_batches(
    stream: faust.StreamT[Any], size: int, within: float
) -> AsyncIterator[list[EventT[Any]]]:
    """Up to ``size`` events, or what arrived within ``within`` seconds, un-acked.
    (``noack_take`` yields events although Faust types it as yielding values.)"""
    concrete = cast("faust.Stream[Any]", stream)
    async for batch in concrete.noack_take(size, within=within):
        yield cast("list[EventT[Any]]", list(batch))


async def ack_all(stream: faust.StreamT[Any], events: Iterable[EventT[Any]]) -> None:
    for event in events:
        await stream.ack(event)
