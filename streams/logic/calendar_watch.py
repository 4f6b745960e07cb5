"""The duty office's warning that the SLA calendar runs on a provisional year
(DESIGN.md §2 Assign): no official holiday schedule (节假日安排) for this year, or
from 1 November for next year, so working-day deadlines count statutory holidays
without the make-up workdays (:func:`routing.sla.missing_schedule_warning`).

Pure: the notification for the moment given, or None. Its id carries the local
date, so the timer that sends it may fire as often as it likes (and on several
workers): the duty office's inbox gets one a day.
"""

from __future__ import annotations

from datetime import datetime

from routing.sla import WorkCalendar, missing_schedule_warning
from schemas.alerts import Notification
from streams.logic.reportup import DUTY_OFFICE, NOTIFY_CHANNEL

CALENDAR_EVENT_TYPE = "org.gridhub.calendar.provisional"


def calendar_notice(calendar: WorkCalendar, now: datetime) -> Notification | None:
    today = now.astimezone(calendar.tz).date()
    text = missing_schedule_warning(calendar, today)
    if text is None:
        return None
    years = [y for y in (today.year, today.year + 1) if not calendar.schedule(y).official]
    return Notification(
        id=f"calendar:{today.isoformat()}",
        recipient=DUTY_OFFICE,
        channel=NOTIFY_CHANNEL,
        time=now,
        event_type=CALENDAR_EVENT_TYPE,
        subject=f"SLA 日历缺少 {'、'.join(map(str, years))} 年官方节假日安排",
        body=text,
        data={
            "day": today.isoformat(),
            "years": [calendar.schedule(y).as_dict() for y in (today.year, today.year + 1)],
        },
    )
