"""``GET /api/v1/stream/cases``: Server-Sent Events of case changes, filtered by
the caller's scope, resumable with ``Last-Event-ID`` (see :mod:`gateway.feed`).

Each change is ``id: <epoch>-<seq>``, ``event: case``, ``data:`` the event
(``type``, ``case_id``, ``version``, ``time``, ``actor``, ``data``) with the case
snapshot after it. ``: ping`` comments keep idle connections open. A client whose
``Last-Event-ID`` cannot be resumed gets ``event: reset`` and should reload the
queue through ``GET /api/v1/cases``.

A stream lives only as long as its token: the token is checked again every
``TOKEN_RECHECK_SECONDS`` (from memory while the gateway's revocation list is
fresh, see ``sinks.tokens.CachedTokens``), and the stream ends (``event: end``)
once it is revoked, expired or can no longer be checked; at most
``MAX_STREAM_SECONDS`` in any case (the client resumes with ``Last-Event-ID``).
A principal holds at most a few streams at once (429 beyond,
``gateway.ratelimit``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Annotated

import orjson
from fastapi import APIRouter, Header, HTTPException, Query
from fastapi.concurrency import run_in_threadpool
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
TOKEN_RECHECK_SECONDS = 1.0
MAX_STREAM_SECONDS = 3600.0
Alive = Callable[[], Awaitable[bool]]


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


async def _always() -> bool:
    return True


async def event_stream(
    feed: CaseFeed,
    sub: Subscription,
    heartbeat: float,
    alive: Alive = _always,
    *,
    recheck: float = TOKEN_RECHECK_SECONDS,
    max_seconds: float = MAX_STREAM_SECONDS,
) -> AsyncIterator[bytes]:
    """The frames of one subscription: its resume point, a reset if its
    ``Last-Event-ID`` could not be resumed, the backlog, then live changes —
    while ``alive()`` (the token still holds), checked every ``recheck`` seconds."""
    started = checked = time.monotonic()
    try:
        # ``id`` alone sets the client's resume point even before a first change.
        yield b"retry: %d\nid: %s\n\n" % (RETRY_MS, feed.event_id(sub.cursor).encode())
        if sub.reset is not None:
            yield b"event: reset\ndata: %s\n\n" % orjson.dumps({"reason": sub.reset})
        backlog, sub.backlog = sub.backlog, []
        for item in backlog:
            yield frame(feed, item)
        idle = 0.0
        while not (sub.overflowed and sub.queue.empty()):
            now = time.monotonic()
            if now - checked >= recheck:
                checked = now
                if not await alive():
                    yield b"event: end\ndata: %s\n\n" % orjson.dumps({"reason": "token"})
                    return
            if now - started >= max_seconds:
                yield b"event: end\ndata: %s\n\n" % orjson.dumps({"reason": "lifetime"})
                return
            wait = min(recheck, heartbeat)
            try:
                item = await asyncio.wait_for(sub.queue.get(), timeout=wait)
            except TimeoutError:
                idle += wait
                if idle >= heartbeat:
                    idle = 0.0
                    yield PING
                continue
            idle = 0.0
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
    slots = deps.rate_limits.streams if deps.rate_limits is not None else None
    who = str(token.principal_id)
    if slots is not None and not slots.acquire(who):
        raise HTTPException(
            status_code=429,
            detail=f"at most {slots.limit} open streams per principal; close one first",
            headers={"Retry-After": "5"},
        )

    async def alive() -> bool:
        return bool(await run_in_threadpool(deps.tokens.still_valid, token))

    # Subscribed before the response starts: once a client has the headers, no
    # change can slip past it.
    sub = feed.subscribe(scope_filter(token), last_event_id or last_event_id_query)
    released = False

    def close() -> None:
        nonlocal released
        feed.unsubscribe(sub)
        if slots is not None and not released:
            released = True
            slots.release(who)

    return EventStreamResponse(
        event_stream(feed, sub, deps.sse_heartbeat, alive),
        on_close=close,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
