"""The SLA calendar's watch: a timer that tells the duty office when the working-day
calendar runs on a provisional year (:mod:`streams.logic.calendar_watch`).

It runs on the group's leader only, every ``calendar_check_seconds``; the
notification's id is the local day's, so repeats after a restart or a leader
change are the same notification, which the inbox keeps once.
"""

from __future__ import annotations

import logging

import faust

from streams.codecs import encode_notification
from streams.config import StreamConfig, StreamDeps
from streams.logic.calendar_watch import calendar_notice
from streams.topics import StageTopics

log = logging.getLogger(__name__)

TIMER_NAME = "gridhub.calendar-watch"


def register(app: faust.App, topics: StageTopics, config: StreamConfig, deps: StreamDeps) -> None:
    sent: list[str] = []  # today's id once sent; a new day sends again

    async def calendar_watch() -> None:
        notice = calendar_notice(deps.district.calendar, deps.clock())
        if notice is None or notice.id in sent:
            return
        value, headers = encode_notification(notice)
        await topics.notifications.send(key=notice.recipient.encode(), value=value, headers=headers)
        log.warning("%s", notice.body)
        sent[:] = [notice.id]

    app.timer(config.calendar_check_seconds, on_leader=True, name=TIMER_NAME)(calendar_watch)
