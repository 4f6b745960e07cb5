"""Notifications out: the inbox and signed webhooks (``gridhub.webhooks``), each
signed with its subscription's own secrets (``sinks.webhooks``).

Consumes ``gridhub.notifications`` in batches, and ``gridhub.case-events`` for
what the reporters' feedback raises (:mod:`streams.logic.feedback`: a report's
private link, the duty office's 回访不满意 item), derived here from the feed
rather than sent as notification records of their own: one record fewer per
report that leaves a phone. Each batch is written to the
outbox in one transaction (``app``/``sms`` → ``inbox``; recipients with a
webhook subscription → ``notification_deliveries`` pending), retried with
back-off while the database is down, and only then acked. The deliveries are
then handed to :class:`~sinks.webhooks.WebhookSender` as background tasks:
a slow receiver never holds the partition or other receivers. A notification
already delivered, dead, or being delivered is skipped (deterministic ids).

The same batch, in the same way, gets its deliveries over the other channels
(e-mail, group robots, SMS: :mod:`sinks.channels`) as the district's notify
rules say, sent by the channel sender and swept on a timer of its own.

A timer sweeps the outbox every ``sweep_seconds`` for pending deliveries whose
sender went away (a crashed or stopped worker) and resumes them here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import faust
import orjson

from schemas.alerts import Notification
from schemas.cases import CaseEventType
from sinks.channels import ChannelDelivery, TargetLike, TargetsOf
from sinks.outbox import Delivery, Outbox, UrlFor
from sinks.subscriptions import DbSubscriptions, url_for
from sinks.webhooks import WebhookConfig, WebhookSender
from streams.batching import ack_all, event_batches
from streams.codecs import decode_case_event, decode_notification, message_headers
from streams.config import ChannelPorts, StreamConfig, StreamDeps
from streams.logic.feedback import FeedbackLinks, feedback_notifications, link_notifications
from streams.metrics import StageMeter
from streams.observability import MeteredWebhookSender
from streams.topics import StageTopics

log = logging.getLogger(__name__)

AGENT_NAME = "gridhub.webhooks"
MAX_BACKOFF_SECONDS = 5.0


def subscription_lookup(
    webhooks: WebhookConfig, subscriptions: DbSubscriptions | None = None
) -> UrlFor:
    """Where a recipient's webhooks go: the settings' subscriptions and, when there
    is a secret to sign with, the admin's from the database (re-read every
    ``reload_seconds``); an exact recipient beats a pattern, settings first."""
    if subscriptions is None:
        return webhooks.url_for
    if not webhooks.secret:
        log.warning("webhook subscriptions in the database are ignored: no webhook secret")
        return webhooks.url_for
    static = dict(webhooks.subscriptions)
    return lambda recipient: url_for(recipient, static, subscriptions.current())


async def accept_with_retry(
    outbox: Outbox,
    notifications: Sequence[Notification],
    webhooks: WebhookConfig,
    lookup: UrlFor | None = None,
) -> list[Delivery]:
    delay = 0.1
    while True:
        try:
            return await asyncio.to_thread(
                outbox.accept,
                notifications,
                lookup or webhooks.url_for,
                stale_after=webhooks.stale_after,
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


async def accept_channels(
    channels: ChannelPorts, notifications: Sequence[Notification], targets_of: TargetsOf
) -> list[ChannelDelivery]:
    """The channel deliveries of a batch, stored before the batch is acked
    (retried with back-off while the database is down)."""
    delay = 0.1
    while True:
        try:
            return await asyncio.to_thread(
                channels.outbox.accept,
                notifications,
                targets_of,
                stale_after=channels.stale_after,
            )
        except Exception as exc:
            log.warning("channel outbox write failed (%s); retrying in %.1fs", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_SECONDS)


_RATED = CaseEventType.RATED.value


def feedback_of_record(raw: bytes, links: FeedbackLinks | None) -> list[Notification]:
    """What a case-event record raises for reporters and the duty office, read off
    the JSON: a report's link from its plain fields; only a rating (rare) is
    decoded whole."""
    try:
        data = orjson.loads(raw).get("data") or {}
        kind = data.get("type")
        if kind == _RATED:
            return feedback_notifications(decode_case_event(raw), links)
        if links is None or not links.secret:
            return []
        report = data.get("report") or {}
        return link_notifications(
            str(kind),
            str(data.get("case_id")),
            datetime.fromisoformat(data["time"]),
            report.get("id"),
            (report.get("reporter") or {}).get("phone"),
            links,
        )
    except (ValueError, AttributeError, KeyError, TypeError) as exc:
        log.error("skipping a case-event record that does not decode: %s", exc)
        return []


def register(
    app: faust.App, topics: StageTopics, config: StreamConfig, deps: StreamDeps
) -> WebhookSender:
    """Attach the notification sender on ``deps.notifications``; returns the sender
    (for tests and metrics)."""
    ports = deps.notifications
    if ports is None:
        raise ValueError("the webhook stage needs deps.notifications (outbox and webhook settings)")
    outbox, webhooks, channels = ports.outbox, ports.webhooks, ports.channels
    lookup = subscription_lookup(webhooks, ports.subscriptions)
    subscriptions = ports.subscriptions
    sender = MeteredWebhookSender(
        webhooks,
        outbox,
        secrets_for=subscriptions.secrets_for if subscriptions is not None else None,
        metrics=deps.metrics,
    )
    meter = StageMeter(deps.metrics, "webhooks")

    def channel_targets(notification: Notification) -> list[TargetLike]:
        """The notify rules' targets on the channels this worker has (a rule for
        e-mail means nothing until an SMTP server is configured)."""
        have = channels.sender.channels if channels is not None else {}
        return [t for t in deps.district.notify.targets(notification) if t.channel in have]

    case_events = topics.case_events.get_topic_name()
    inputs = app.topic(
        topics.notifications.get_topic_name(),
        case_events,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )

    async def deliver(stream: faust.StreamT[Any]) -> None:
        try:
            async for batch in event_batches(stream, config.db_batch, config.db_batch_seconds):
                meter.start(batch)
                notifications: list[Notification] = []
                for event in batch:
                    message = event.message
                    if message.topic == case_events:
                        notifications += feedback_of_record(message.value or b"", deps.feedback)
                        continue
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
                    await accept_with_retry(outbox, notifications, webhooks, lookup)
                    if notifications
                    else []
                )
                by_channel = (
                    await accept_channels(channels, notifications, channel_targets)
                    if channels is not None and notifications
                    else []
                )
                await ack_all(stream, batch)
                meter.finish()
                sender.submit(deliveries)
                if channels is not None:
                    channels.sender.submit(by_channel)
                await sender.wait_for_room()
        finally:
            await sender.aclose()
            if channels is not None:
                await channels.sender.aclose()

    async def sweep() -> None:
        try:
            stale = await asyncio.to_thread(outbox.claim_stale, stale_after=webhooks.stale_after)
        except Exception as exc:
            log.warning("webhook outbox sweep failed: %s", exc)
            return
        if stale:
            log.info("resuming %d orphaned webhook deliveries", sender.submit(stale))

    async def sweep_channels() -> None:
        if channels is None:
            return
        try:
            stale = await asyncio.to_thread(
                channels.outbox.claim_stale, stale_after=channels.stale_after
            )
        except Exception as exc:
            log.warning("channel outbox sweep failed: %s", exc)
            return
        if stale:
            log.info("resuming %d channel deliveries", channels.sender.submit(stale))

    app.agent(inputs, name=AGENT_NAME)(deliver)
    app.timer(webhooks.sweep_seconds, name=f"{AGENT_NAME}.sweep")(sweep)
    if channels is not None:
        app.timer(channels.sweep_seconds, name=f"{AGENT_NAME}.channels.sweep")(sweep_channels)
    return sender
