"""Notifications out: the inbox and signed webhooks (``gridhub.webhooks``).

Consumes ``gridhub.notifications`` in batches. Each batch is written to the
outbox in one transaction (``app``/``sms`` → ``inbox``; recipients with a
webhook subscription → ``notification_deliveries`` pending), retried with
back-off while the database is down, and only then acked. The deliveries are
then handed to :class:`~sinks.webhooks.WebhookSender` as background tasks:
a slow receiver never holds the partition or other receivers. A notification
already delivered, dead, or being delivered is skipped (deterministic ids).

A timer sweeps the outbox every ``sweep_seconds`` for pending deliveries whose
sender went away (a crashed or stopped worker) and resumes them here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import faust
from sqlalchemy import Engine

from schemas.alerts import Notification
from sinks.outbox import Delivery, Outbox
from sinks.webhooks import WebhookConfig, WebhookSender
from streams.batching import ack_all, event_batches
from streams.config import StreamConfig, StreamDeps
from streams.reportup import decode_notification, message_headers

if TYPE_CHECKING:
    from streams.app import StageTopics

log = logging.getLogger(__name__)

AGENT_NAME = "gridhub.webhooks"
MAX_BACKOFF_SECONDS = 5.0


async def accept_with_retry(
    outbox: Outbox, notifications: Sequence[Notification], webhooks: WebhookConfig
) -> list[Delivery]:
    delay = 0.1
    while True:
        try:
            return await asyncio.to_thread(
                outbox.accept, notifications, webhooks.url_for, stale_after=webhooks.stale_after
            )
        except Exception as exc:
            log.warning(
                "outbox write of %d notifications failed (%s); retrying in %.1fs",
                len(notifications),
                exc,
                delay,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_SECONDS)


def register(
    app: faust.App,
    topics: StageTopics,
    config: StreamConfig,
    deps: StreamDeps,
    *,
    webhooks: WebhookConfig,
    engine: Engine,
) -> WebhookSender:
    """Attach the notification sender; returns it (for tests and metrics)."""
    outbox = Outbox(engine)
    sender = WebhookSender(webhooks, outbox)

    async def deliver(stream: faust.StreamT[Any]) -> None:
        try:
            async for batch in event_batches(stream, config.db_batch, config.db_batch_seconds):
                notifications: list[Notification] = []
                for event in batch:
                    message = event.message
                    try:
                        notifications.append(
                            decode_notification(message.value, message_headers(message.headers))
                        )
                    except ValueError as exc:
                        log.error(
                            "skipping a record that is not a notification at %s/%s: %s",
                            message.partition,
                            message.offset,
                            exc,
                        )
                deliveries = (
                    await accept_with_retry(outbox, notifications, webhooks)
                    if notifications
                    else []
                )
                await ack_all(stream, batch)
                sender.submit(deliveries)
                await sender.wait_for_room()
        finally:
            await sender.aclose()

    async def sweep() -> None:
        try:
            stale = await asyncio.to_thread(outbox.claim_stale, stale_after=webhooks.stale_after)
        except Exception as exc:
            log.warning("webhook outbox sweep failed: %s", exc)
            return
        if stale:
            log.info("resuming %d orphaned webhook deliveries", sender.submit(stale))

    app.agent(topics.notifications, name=AGENT_NAME)(deliver)
    app.timer(webhooks.sweep_seconds, name=f"{AGENT_NAME}.sweep")(sweep)
    return sender
