"""``GET /api/v1/stream/cases``: Server-Sent Events of case changes, filtered by
the caller's scope, resumable with ``Last-Event-ID`` (see :mod:`gateway.feed`).

Each change is ``id: <epoch>-<seq>``, ``event: case``, ``data:`` the event
(``type``, ``case_id``, ``version``, ``time``, ``actor``, ``data``) with the case
snapshot after it. ``: ping`` comments keep idle connections open. A client whose
``Last-Event-ID`` cannot be resumed gets ``event: reset`` and should reload the
queue through ``GET /api/v1/cases``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Annotated

import orjson
from fastapi import APIRouter, Header, HTTPException, Query
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from gateway.auth import CaseWorker, own_department
from gateway.deps import Deps
from gateway.errors import ErrorOut
from gateway.feed import CaseFeed, FeedItem, Subscription
from gateway.ports import TokenInfo
from gateway.routes.common import AUTH_ERRORS, INVALID
from schemas.policy import DEPARTMENT, GRID_WORKER, grid_in_scope

router = APIRouter(prefix="/api/v1/stream", tags=["stream"])

RETRY_MS = 3000
PING = b": ping\n\n"


class EventStreamResponse(StreamingResponse):
    media_type = "text/event-stream"

    def __init__(
        self,
        content: AsyncIterator[bytes],
        *,
        on_close: Callable[[], None] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(content, headers=headers)
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            if self._on_close is not None:  # even if the stream never started
                self._on_close()


def scope_filter(token: TokenInfo) -> Callable[[FeedItem], bool]:
    """Which changes a token may see: a department its cases, a grid worker its grids."""
    scope = token.scope
    if token.role == DEPARTMENT:
        department = scope or ""
        return lambda item: department in item.departments
    if token.role == GRID_WORKER:
        return lambda item: any(grid_in_scope(scope, grid) for grid in item.grid_codes)
    return lambda item: True


def frame(feed: CaseFeed, item: FeedItem) -> bytes:
    return b"id: %s\nevent: case\ndata: %s\n\n" % (feed.event_id(item.seq).encode(), item.payload)


async def event_stream(feed: CaseFeed, sub: Subscription, heartbeat: float) -> AsyncIterator[bytes]:
    """The frames of one subscription: its resume point, a reset if its
    ``Last-Event-ID`` could not be resumed, the backlog, then live changes."""
    try:
        # ``id`` alone sets the client's resume point even before a first change.
        yield b"retry: %d\nid: %s\n\n" % (RETRY_MS, feed.event_id(sub.cursor).encode())
        if sub.reset is not None:
            yield b"event: reset\ndata: %s\n\n" % orjson.dumps({"reason": sub.reset})
        backlog, sub.backlog = sub.backlog, []
        for item in backlog:
            yield frame(feed, item)
        while not (sub.overflowed and sub.queue.empty()):
            try:
                item = await asyncio.wait_for(sub.queue.get(), timeout=heartbeat)
            except TimeoutError:
                yield PING
                continue
            yield frame(feed, item)
        # Fell too far behind: end the stream; the client resumes from the buffer.
    finally:
        feed.unsubscribe(sub)


@router.get(
    "/cases",
    response_class=EventStreamResponse,
    status_code=200,
    summary="Live case changes (Server-Sent Events), resumable with Last-Event-ID",
    responses={
        **AUTH_ERRORS,
        **INVALID,
        200: {
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
            "description": "an endless event stream",
        },
        503: {"model": ErrorOut, "description": "the live feed is not available"},
    },
)
async def stream_cases(
    deps: Deps,
    token: CaseWorker,
    last_event_id: Annotated[
        str | None,
        Header(alias="Last-Event-ID", max_length=64, description="resume after this event"),
    ] = None,
    last_event_id_query: Annotated[
        str | None,
        Query(
            alias="lastEventId",
            max_length=64,
            description="the same, for clients that cannot set headers",
        ),
    ] = None,
) -> EventStreamResponse:
    feed = deps.case_feed
    if feed is None:
        raise HTTPException(status_code=503, detail="the live case feed is not available here")
    own_department(token)
    # Subscribed before the response starts: once a client has the headers, no
    # change can slip past it.
    sub = feed.subscribe(scope_filter(token), last_event_id or last_event_id_query)
    return EventStreamResponse(
        event_stream(feed, sub, deps.sse_heartbeat),
        on_close=lambda: feed.unsubscribe(sub),
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
