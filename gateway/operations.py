"""The operator, department and phone side of the gateway (issue 4): its routers,
and starting/stopping its Kafka followers (command results, case-event feed)
with the application. ``create_app`` includes these in one block."""

from __future__ import annotations

import logging

from fastapi import APIRouter

from gateway.deps import GatewayDeps
from gateway.routes import actions, me, media, stats, stream

log = logging.getLogger(__name__)

OPERATIONS_ROUTERS: tuple[APIRouter, ...] = (
    actions.router,
    media.router,
    me.router,
    stats.router,
    stream.router,
)


async def start_operations(deps: GatewayDeps) -> None:
    started = []
    try:
        for part in (deps.command_results, deps.case_feed):
            if part is not None:
                await part.start()
                started.append(part)
    except BaseException:
        for part in reversed(started):
            await part.stop()
        raise


async def stop_operations(deps: GatewayDeps) -> None:
    for part in (deps.case_feed, deps.command_results):
        if part is None:
            continue
        try:
            await part.stop()
        except Exception:  # stopping must go on for the others
            log.exception("stopping %s failed", type(part).__name__)
