"""Report (报告) + feedback (反馈): alerts and notifications from the case-event feed.

Two agents, each in its own consumer of a topic it does not own:

- ``gridhub.report-up`` consumes ``gridhub.case-events`` (keyed by case id, so
  every event of a case reaches the same worker, in order) and sends the
  :func:`~streams.logic.reportup.report_up` decisions: alerts to ``gridhub.alerts``
  (key grid code), notifications to ``gridhub.notifications`` (key recipient),
  the P1 notification to the duty office straight away, without a second hop,
  and the feedback decisions of :mod:`streams.logic.feedback` (reporters' links,
  回访不满意 items for the duty office);
- ``gridhub.report-up.alerts`` consumes ``gridhub.alerts`` and tells the duty
  office of every *hotspot* alert (raised by the hotspot agent). P1 alerts it
  skips: the first agent already notified them, with the same id.

Both take batches with manual acks and ack a batch only once every send of it
is handed to the producer; Faust flushes the producer before it commits an
offset, so a crash re-sends (same ids) rather than loses.
"""

from __future__ import annotations

import logging
from typing import Any

import faust

from schemas import trace
from schemas.alerts import Alert, AlertKind, Notification
from streams.batching import ack_all, event_batches
from streams.codecs import (
    decode_alert,
    encode_alert,
    encode_notification,
    message_headers,
    shared_case_events,
)
from streams.config import StreamConfig, StreamDeps
from streams.logic.feedback import feedback_notifications
from streams.logic.reportup import PriorityMemory, alert_notifications, report_up
from streams.metrics import StageMeter
from streams.topics import StageTopics

log = logging.getLogger(__name__)

AGENT_NAME = "gridhub.report-up"
ALERTS_AGENT_NAME = "gridhub.report-up.alerts"


def register(app: faust.App, topics: StageTopics, config: StreamConfig, deps: StreamDeps) -> None:
    memory = PriorityMemory()
    taxonomy = deps.district.taxonomy
    meter = StageMeter(deps.metrics, "report-up")
    alerts_meter = StageMeter(deps.metrics, "report-up.alerts")
    alerts_topic = topics.alerts.get_topic_name()
    notifications_topic = topics.notifications.get_topic_name()

    def category_name(code: str) -> str:
        category = taxonomy.get(code)
        return category.name_zh if category is not None else code

    def source_status(source: str, state: str) -> dict[str, str]:
        return deps.district.statuses.status(source, state).as_json()

    async def send_alert(alert: Alert) -> None:
        value, headers = encode_alert(alert)
        await topics.alerts.send(key=alert.grid_code.encode(), value=value, headers=headers)
        meter.sent(alerts_topic)

    async def send_notification(notification: Notification, sent: StageMeter = meter) -> None:
        value, headers = encode_notification(notification)
        await topics.notifications.send(
            key=notification.recipient.encode(), value=value, headers=headers
        )
        sent.sent(notifications_topic)

    async def reportup(stream: faust.StreamT[Any]) -> None:
        async for batch in event_batches(stream, config.stage_batch, config.stage_batch_seconds):
            meter.start(batch)
            for event in batch:
                try:
                    case_event = shared_case_events.decode(event.message.value or b"")
                except ValueError as exc:
                    log.error(
                        "skipping a record that is not a case event at %s/%s: %s",
                        event.message.partition,
                        event.message.offset,
                        exc,
                    )
                    continue
                if case_event.report is not None:
                    trace.bind_report(case_event.report, case_event.case_id)
                else:
                    trace.bind(case_id=case_event.case_id)
                decision = report_up(
                    case_event, memory.previous(case_event.case_id), category_name, source_status
                )
                memory.remember(case_event)
                for alert in decision.alerts:
                    await send_alert(alert)
                    log.info("alert %s: %s", alert.id, alert.title)
                for notification in decision.notifications:
                    await send_notification(notification)
                for notification in feedback_notifications(case_event, deps.feedback):
                    await send_notification(notification)
            await ack_all(stream, batch)
            trace.clear()
            meter.finish()

    async def duty_office(stream: faust.StreamT[Any]) -> None:
        async for batch in event_batches(stream, config.stage_batch, config.stage_batch_seconds):
            alerts_meter.start(batch)
            for event in batch:
                try:
                    alert = decode_alert(
                        event.message.value, message_headers(event.message.headers)
                    )
                except ValueError as exc:
                    log.error(
                        "skipping a record that is not an alert at %s/%s: %s",
                        event.message.partition,
                        event.message.offset,
                        exc,
                    )
                    continue
                if alert.kind is not AlertKind.HOTSPOT:
                    continue
                for notification in alert_notifications(alert):
                    await send_notification(notification, alerts_meter)
            await ack_all(stream, batch)
            alerts_meter.finish()

    app.agent(topics.case_events, name=AGENT_NAME)(reportup)
    app.agent(topics.alerts, name=ALERTS_AGENT_NAME)(duty_office)
