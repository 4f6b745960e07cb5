"""A batch's records, sent together and waited for together.

Every record a stage produces for a batch (case events, command results,
follow-up commands, dead letters, alerts, notifications) is an :class:`Output`.
:class:`KafkaSender` hands them to the Kafka client directly and waits for
exactly those records' acknowledgements (``acks=all``), not for everything the
producer holds — other stages' records and table changelogs go their own way,
and every commit still waits for all of it (``streams.delivery``). A send
through the client costs a third of Faust's ``Topic.send``. Where no client
runs (agents in Faust's ``test_context()``), it sends through Faust's topics
(:class:`TopicSender`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import faust
from faust.exceptions import NotReady

from streams.delivery import kafka_producer


@dataclass(frozen=True)
class Output:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] | None = None


class Sender(Protocol):
    async def send(self, outputs: Sequence[Output]) -> None:
        """Return once the broker has every record of ``outputs``; raise if not."""
        ...


class KafkaSender:
    def __init__(self, app: faust.App, topics: Mapping[str, faust.TopicT]) -> None:
        self.app = app
        self.without_client = TopicSender(topics)

    async def send(self, outputs: Sequence[Output]) -> None:
        if not outputs:
            return
        try:
            producer = kafka_producer(self.app)
        except NotReady:
            await self.without_client.send(outputs)
            return
        pending = [
            await producer.send(out.topic, out.value, key=out.key, headers=out.headers)
            for out in outputs
        ]
        await asyncio.gather(*pending)


class TopicSender:
    """Through ``faust.Topic.send``, by topic name."""

    def __init__(self, topics: Mapping[str, faust.TopicT]) -> None:
        self.topics = dict(topics)

    async def send(self, outputs: Sequence[Output]) -> None:
        pending: list[Any] = []
        for out in outputs:
            sent = await self.topics[out.topic].send(
                key=out.key, value=out.value, headers=out.headers
            )
            if sent is not None:
                pending.append(sent)
        for sent in pending:
            await sent
