"""Waiting for the case agent's answer to a command (``CommandResult`` on the
command-results topic, keyed by case id).

:class:`CommandResults` is the in-memory core (and the unit tests' twin: call
:meth:`CommandResults.deliver`); :class:`KafkaCommandResults` feeds it from ONE
shared consumer per gateway process (:class:`gateway.tail.TopicTail`). Waiters
register a future per command id *before* the command is published, so an
answer cannot slip past them. Recent results are kept (bounded), so a retry or a
status poll after a late answer is answered without asking the agent again."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from gateway.tail import TopicTail
from schemas.cases import CommandResult

log = logging.getLogger(__name__)

DEFAULT_RECENT = 10_000


class CommandResults:
    """Futures keyed by command id, resolved as results arrive."""

    def __init__(self, recent: int = DEFAULT_RECENT) -> None:
        self._waiting: dict[str, list[asyncio.Future[CommandResult]]] = {}
        self._recent: OrderedDict[str, CommandResult] = OrderedDict()
        self._recent_size = recent

    async def start(self) -> None:
        """Nothing to start in memory."""

    async def stop(self) -> None:
        for futures in self._waiting.values():
            for future in futures:
                future.cancel()
        self._waiting.clear()

    def expect(self, command_id: str) -> asyncio.Future[CommandResult]:
        """A future for the answer to ``command_id``; register it before publishing."""
        future: asyncio.Future[CommandResult] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(command_id, []).append(future)
        return future

    def discard(self, command_id: str, future: asyncio.Future[CommandResult]) -> None:
        """Stop waiting (the caller timed out or gave up)."""
        futures = self._waiting.get(command_id)
        if futures is None:
            return
        if future in futures:
            futures.remove(future)
        if not futures:
            del self._waiting[command_id]

    def recent(self, command_id: str) -> CommandResult | None:
        """The answer to ``command_id`` if it arrived while this process ran (bounded)."""
        return self._recent.get(command_id)

    @property
    def waiting(self) -> int:
        return sum(len(f) for f in self._waiting.values())

    def deliver(self, result: CommandResult) -> None:
        """An answer arrived: remember it and wake every waiter for its command."""
        self._recent[result.command_id] = result
        self._recent.move_to_end(result.command_id)
        while len(self._recent) > self._recent_size:
            self._recent.popitem(last=False)
        for future in self._waiting.pop(result.command_id, ()):
            if not future.done():
                future.set_result(result)


class KafkaCommandResults(CommandResults):
    """:class:`CommandResults` fed by a consumer of the command-results topic."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        *,
        client_id: str = "gridhub-gateway-results",
        extra_config: Mapping[str, Any] | None = None,
        recent: int = DEFAULT_RECENT,
    ) -> None:
        super().__init__(recent)
        self._tail = TopicTail(
            bootstrap, topic, self._on_record, client_id=client_id, extra_config=extra_config
        )

    async def start(self) -> None:
        await self._tail.start()

    async def stop(self) -> None:
        await self._tail.stop()
        await super().stop()

    def _on_record(
        self, partition: int, offset: int, key: bytes | None, value: bytes | None
    ) -> None:
        try:
            result = CommandResult.model_validate_json(value or b"")
        except ValidationError as exc:
            log.warning("command result %d@%d unreadable: %s", partition, offset, exc)
            return
        self.deliver(result)
