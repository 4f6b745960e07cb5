"""The duty office's calendar warning: none while this and next year's schedules
are official or before November, one a day (its id is the local date) once next
year's is missing; a year the overrides file declares complete stops it."""

from __future__ import annotations

from datetime import UTC, date, datetime

from routing.sla import CalendarOverrides, WorkCalendar
from streams.logic.calendar_watch import calendar_notice
from streams.logic.reportup import DUTY_OFFICE


def test_from_november_the_duty_office_hears_next_years_schedule_is_missing() -> None:
    calendar = WorkCalendar()
    assert calendar.schedule(2026).official and not calendar.schedule(2027).official
    assert calendar_notice(calendar, datetime(2026, 10, 31, 12, tzinfo=UTC)) is None
    # 1 November, 00:30 in Beijing is still 31 October in UTC: the district's day counts.
    notice = calendar_notice(calendar, datetime(2026, 10, 31, 16, 30, tzinfo=UTC))
    assert notice is not None
    assert notice.id == "calendar:2026-11-01" and notice.recipient == DUTY_OFFICE
    assert "2027" in notice.subject and "calendar_overrides.yaml" in notice.body
    assert [y["status"] for y in notice.data["years"]] == ["official", "provisional"]
    later = calendar_notice(calendar, datetime(2026, 11, 1, 15, tzinfo=UTC))
    assert later is not None and later.id == notice.id  # the same day: the same notice
    nextday = calendar_notice(calendar, datetime(2026, 11, 2, 1, tzinfo=UTC))
    assert nextday is not None and nextday.id == "calendar:2026-11-02"


def test_an_announced_schedule_in_the_overrides_file_ends_the_warning() -> None:
    announced = CalendarOverrides(
        holidays=frozenset({date(2027, 1, 1), date(2027, 2, 6)}), official_years=frozenset({2027})
    )
    assert calendar_notice(WorkCalendar(announced), datetime(2026, 12, 7, tzinfo=UTC)) is None
