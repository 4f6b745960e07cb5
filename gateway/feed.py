"""The live case feed behind ``GET /api/v1/stream/cases`` (Server-Sent Events).

ONE consumer per gateway process follows ``gridhub.case-events`` from its end
(:class:`KafkaCaseFeed`, via :class:`gateway.tail.TopicTail`); every event gets
the next number of a per-process sequence, goes into a bounded ring buffer and
is offered to every subscriber whose scope covers the case.

Event ids are ``<epoch>-<seq>``: ``epoch`` is random per process start, so a
``Last-Event-ID`` from another process (or from before a restart) is recognised
as such. Resuming with an id of this process replays the buffered events after
it; an id that is foreign or older than the buffer gets a ``reset`` instead (the
client reloads the queue through the REST API), never a silent gap.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from gateway.defaults import SSE_BUFFER
from gateway.tail import TopicTail
from schemas.envelope import CASE_EVENT_PREFIX

log = logging.getLogger(__name__)

DEFAULT_QUEUE = 1_000


@dataclass(frozen=True)
class FeedItem:
    """One case event as the stream sends it: the payload is encoded once."""

    seq: int
    case_id: str
    grid_codes: tuple[str, ...]
    departments: frozenset[str]
    payload: bytes


def summarise(raw: bytes) -> tuple[str, tuple[str, ...], frozenset[str], bytes]:
    """``(case id, grid codes, departments, payload)`` of a structured case-event
    CloudEvent. The payload is the event without its ``report`` (which carries the
    reporter's personal data): ``type``, ``case_id``, ``version``, ``time``,
    ``actor``, ``data`` and the ``case`` snapshot after the event."""
    doc = orjson.loads(raw)
    if not isinstance(doc, dict) or not str(doc.get("type", "")).startswith(CASE_EVENT_PREFIX):
        raise ValueError("not a GridHub case event")
    data = doc["data"]
    case = data["case"]
    grids = tuple(dict.fromkeys([str(case["grid_code"]), *map(str, case.get("grid_codes") or ())]))
    departments = {str(d) for d in case.get("departments") or ()}
    if case.get("lead_department"):
        departments.add(str(case["lead_department"]))
    event_data = data.get("data") or {}
    if isinstance(event_data, dict) and event_data.get("department"):
        # a ``returned`` case no longer lists the department that returned it
        departments.add(str(event_data["department"]))
    payload = {
        "type": data["type"],
        "case_id": data["case_id"],
        "version": data["version"],
        "time": data["time"],
        "actor": data.get("actor"),
        "data": event_data,
        "case": case,
    }
    return str(data["case_id"]), grids, frozenset(departments), orjson.dumps(payload)


@dataclass(eq=False)
class Subscription:
    """One SSE client: the backlog to replay, then live items from its queue.
    ``overflowed`` means the client fell too far behind and must reconnect (it
    resumes from the buffer with its ``Last-Event-ID``)."""

    accepts: Callable[[FeedItem], bool]
    queue: asyncio.Queue[FeedItem]
    backlog: list[FeedItem] = field(default_factory=list)
    cursor: int = 0
    reset: str | None = None
    overflowed: bool = False

    def offer(self, item: FeedItem) -> None:
        if self.overflowed or not self.accepts(item):
            return
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.overflowed = True


class CaseFeed:
    """The in-memory hub: sequence, ring buffer and subscribers (also the unit-test twin:
    call :meth:`ingest` with the bytes of a case-event record)."""

    def __init__(self, buffer: int = SSE_BUFFER, queue: int = DEFAULT_QUEUE) -> None:
        self.epoch = secrets.token_hex(4)
        self._seq = 0
        self._buffer: deque[FeedItem] = deque(maxlen=buffer)
        self._queue_size = queue
        self._subscribers: set[Subscription] = set()

    async def start(self) -> None:
        """Nothing to start in memory."""

    async def stop(self) -> None:
        for sub in self._subscribers:
            sub.overflowed = True
        self._subscribers.clear()

    @property
    def seq(self) -> int:
        return self._seq

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def event_id(self, seq: int) -> str:
        return f"{self.epoch}-{seq}"

    def ingest(self, raw: bytes) -> FeedItem | None:
        try:
            case_id, grids, departments, payload = summarise(raw)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("case event skipped by the live feed: %s", exc)
            return None
        self._seq += 1
        item = FeedItem(self._seq, case_id, grids, departments, payload)
        self._buffer.append(item)
        for sub in self._subscribers:
            sub.offer(item)
        return item

    def subscribe(
        self, accepts: Callable[[FeedItem], bool], last_event_id: str | None = None
    ) -> Subscription:
        """Register a subscriber. Synchronous on purpose: nothing can be ingested
        between taking the backlog from the buffer and joining the live queue."""
        sub = Subscription(accepts=accepts, queue=asyncio.Queue(self._queue_size))
        sub.cursor = self._seq
        if last_event_id:
            after = self._resume_point(last_event_id)
            if after is None:
                sub.reset = "Last-Event-ID is not from this stream or older than its buffer"
            else:
                sub.backlog = [i for i in self._buffer if i.seq > after and accepts(i)]
                sub.cursor = after
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)

    def _resume_point(self, last_event_id: str) -> int | None:
        epoch, _, number = last_event_id.strip().rpartition("-")
        if epoch != self.epoch or not number.isdigit():
            return None
        seq = int(number)
        if seq > self._seq:
            return None
        oldest = self._buffer[0].seq if self._buffer else self._seq + 1
        if seq < oldest - 1:
            return None  # events after it have already left the buffer
        return seq

    def buffered(self) -> Iterable[FeedItem]:
        return iter(self._buffer)


class KafkaCaseFeed(CaseFeed):
    """:class:`CaseFeed` fed by a consumer of the case-event topic."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        *,
        client_id: str = "gridhub-gateway-feed",
        extra_config: Mapping[str, Any] | None = None,
        buffer: int = SSE_BUFFER,
        queue: int = DEFAULT_QUEUE,
    ) -> None:
        super().__init__(buffer, queue)
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
        if value:
            self.ingest(value)
