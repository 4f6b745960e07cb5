from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import chinese_calendar
import pytest

from routing import sla
from routing.district import District
from routing.sla import CalendarOverrides, SlaClock, SlaPolicy, WorkCalendar
from schemas.cases import Priority

SHANGHAI = timezone(timedelta(hours=8))


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


@pytest.fixture
def calendar() -> WorkCalendar:
    return WorkCalendar()


def test_weekend_is_skipped(calendar: WorkCalendar) -> None:
    friday = local(2026, 3, 13, 15, 30)
    assert calendar.add_working_days(friday, 1) == local(2026, 3, 16, 15, 30)  # Monday
    assert calendar.add_working_days(friday, 3) == local(2026, 3, 18, 15, 30)
    assert calendar.add_working_days(friday, 0) == friday
    saturday = local(2026, 3, 14, 10, 0)
    assert calendar.add_working_days(saturday, 1) == local(2026, 3, 16, 10, 0)


def test_result_is_utc_and_keeps_local_time_of_day(calendar: WorkCalendar) -> None:
    # 23:30 UTC on Thursday is 07:30 Friday in Shanghai: day boundaries are local
    start = datetime(2026, 3, 12, 23, 30, tzinfo=UTC)
    result = calendar.add_working_days(start, 1)
    assert result.tzinfo is UTC
    assert result == local(2026, 3, 16, 7, 30)


def test_national_day_2026_with_make_up_saturday(calendar: WorkCalendar) -> None:
    assert not calendar.is_workday(date(2026, 10, 1))
    assert calendar.is_workday(date(2026, 10, 10))  # Saturday, make-up workday
    start = local(2026, 9, 30, 18, 0)  # Wednesday before the holiday
    # Oct 1-7 holiday; Oct 8 Thu, Oct 9 Fri, Oct 10 Sat (make-up) are working days
    assert calendar.add_working_days(start, 3) == local(2026, 10, 10, 18, 0)
    assert calendar.add_working_days(start, 4) == local(2026, 10, 12, 18, 0)


def test_spring_festival_2026(calendar: WorkCalendar) -> None:
    # Feb 14 (Sat) is a make-up workday; Feb 15-23 are holidays; Feb 28 (Sat) works
    assert calendar.is_workday(date(2026, 2, 14))
    start = local(2026, 2, 13, 9, 0)
    assert calendar.add_working_days(start, 1) == local(2026, 2, 14, 9, 0)
    assert calendar.add_working_days(start, 2) == local(2026, 2, 24, 9, 0)
    assert calendar.add_working_days(local(2026, 2, 27, 9, 0), 1) == local(2026, 2, 28, 9, 0)


def test_deadlines_hours_for_urgent_and_working_days_otherwise(district: District) -> None:
    start = local(2026, 9, 30, 18, 0)
    respond_by, resolve_by = district.deadlines(Priority.P1, start)
    assert respond_by == start + timedelta(minutes=30)
    assert resolve_by == start + timedelta(hours=4)
    assert resolve_by.tzinfo is UTC
    respond_by, resolve_by = district.deadlines(Priority.P2, start)
    assert resolve_by == start + timedelta(hours=24)  # clock hours, holiday or not
    respond_by, resolve_by = district.deadlines(Priority.P3, start)
    assert respond_by == start + timedelta(hours=24)
    assert resolve_by == local(2026, 10, 10, 18, 0)


def test_naive_times_are_refused(calendar: WorkCalendar) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        calendar.add_working_days(datetime(2026, 3, 13, 10, 0), 1)
    with pytest.raises(ValueError):
        calendar.add_working_days(local(2026, 3, 13, 10, 0), -1)


def test_2027_counts_the_statutory_holidays_and_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calendar = WorkCalendar()
    with caplog.at_level(logging.WARNING, logger="routing.sla"):
        friday = local(2027, 3, 12, 10, 0)
        assert calendar.add_working_days(friday, 1) == local(2027, 3, 15, 10, 0)
        assert calendar.add_working_days(friday, 5) == local(2027, 3, 19, 10, 0)
        assert not calendar.is_workday(date(2027, 1, 1))  # New Year, from `holidays`
        assert not calendar.is_workday(date(2027, 2, 8))  # Spring Festival, lunar
        assert not calendar.is_workday(date(2027, 2, 20))  # Saturday: no 调休 known
    warnings = [r for r in caplog.records if "2027" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
    assert "make-up workdays" in warnings[0].getMessage()


def test_what_holidays_gives_for_2027() -> None:
    # holidays.China 0.108 for 2027: statutory days plus the next-workday in-lieu
    # days it computes for those on a weekend; no announced make-up workday.
    calendar = WorkCalendar()
    rest = [
        date(2027, 1, 1),
        *(date(2027, 2, d) for d in range(5, 11)),  # Eve (Fri) to Wed, in lieu Tue-Wed
        date(2027, 4, 5),  # Qingming
        *(date(2027, 5, d) for d in range(1, 5)),  # Labour Day, in lieu Mon-Tue
        date(2027, 6, 9),  # Dragon Boat
        date(2027, 9, 15),  # Mid-Autumn
        *(date(2027, 10, d) for d in range(1, 6)),  # National Day, in lieu Mon-Tue
    ]
    for day in rest:
        assert not calendar.is_workday(day), day
    weekdays_off = {
        day
        for day in (date(2027, 1, 1) + timedelta(days=n) for n in range(365))
        if day.weekday() < 5 and not calendar.is_workday(day)
    }
    assert weekdays_off == {day for day in rest if day.weekday() < 5}
    saturdays_and_sundays = (date(2027, 1, 2) + timedelta(days=n) for n in range(364))
    assert not any(calendar.is_workday(d) for d in saturdays_and_sundays if d.weekday() >= 5)


def test_p3_and_p4_from_30_december_2026_skip_new_year_2027(district: District) -> None:
    start = local(2026, 12, 30, 10, 0)  # Wednesday
    # Thu 31 Dec works (chinese_calendar); Fri 1 Jan is New Year (holidays); Sat-Sun
    _, resolve_by = district.deadlines(Priority.P3, start)  # 3 working days
    assert resolve_by == local(2027, 1, 5, 10, 0)
    _, resolve_by = district.deadlines(Priority.P4, start)  # 5 working days
    assert resolve_by == local(2027, 1, 7, 10, 0)


def test_spring_festival_2027_is_skipped(district: District) -> None:
    start = local(2027, 2, 4, 10, 0)  # Thursday before the Eve (Fri 5 Feb)
    _, resolve_by = district.deadlines(Priority.P3, start)
    assert resolve_by == local(2027, 2, 15, 10, 0)  # Thu 11, Fri 12, Mon 15
    _, resolve_by = district.deadlines(Priority.P4, start)
    assert resolve_by == local(2027, 2, 17, 10, 0)
    # a case opened on the first day of the festival counts from Thursday 11 Feb
    _, resolve_by = district.deadlines(Priority.P3, local(2027, 2, 6, 9, 0))
    assert resolve_by == local(2027, 2, 15, 9, 0)


def test_national_day_2027_is_skipped(calendar: WorkCalendar) -> None:
    start = local(2027, 9, 30, 18, 0)  # Thursday
    assert calendar.add_working_days(start, 1) == local(2027, 10, 6, 18, 0)


def test_2027_overrides_file(tmp_path: Path) -> None:
    path = tmp_path / "calendar_overrides.yaml"
    path.write_text("holidays: [2027-01-01, '2027-03-15']\nworkdays: [2027-03-13]\n")
    calendar = WorkCalendar(CalendarOverrides.load(path))
    assert not calendar.is_workday(date(2027, 1, 1))
    friday = local(2027, 3, 12, 10, 0)
    # Sat 13 is a make-up workday, Mon 15 a holiday
    assert calendar.add_working_days(friday, 1) == local(2027, 3, 13, 10, 0)
    assert calendar.add_working_days(friday, 2) == local(2027, 3, 16, 10, 0)


def test_overrides_errors(tmp_path: Path) -> None:
    path = tmp_path / "calendar_overrides.yaml"
    path.write_text("holidays: [2027-13-01]\n")
    with pytest.raises(ValueError, match=r"calendar_overrides\.yaml: not valid YAML \(month"):
        CalendarOverrides.load(path)
    path.write_text("holidays: ['2027-02-30']\n")
    with pytest.raises(ValueError, match=r"calendar_overrides\.yaml: `holidays`: '2027-02-30'"):
        CalendarOverrides.load(path)
    path.write_text("holidays: [2027-01-01]\nworkdays: [2027-01-01]\n")
    with pytest.raises(ValueError, match="both holiday and workday"):
        CalendarOverrides.load(path)


def test_policy_needs_exactly_one_resolve_measure() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        SlaPolicy(Priority.P3, 8)
    with pytest.raises(ValueError, match="exactly one"):
        SlaPolicy(Priority.P3, 8, resolve_hours=4, resolve_working_days=2)
    clock = SlaClock(
        {Priority.P4: SlaPolicy(Priority.P4, 1, resolve_working_days=1)}, WorkCalendar()
    )
    assert clock.deadlines(Priority.P4, local(2026, 3, 13, 10, 0))[1] == local(2026, 3, 16, 10, 0)


def test_the_library_is_asked_once_per_date_and_the_memory_is_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[date] = []
    real = chinese_calendar.is_workday

    def counting(day: date) -> bool:
        asked.append(day)
        return bool(real(day))

    monkeypatch.setattr(chinese_calendar, "is_workday", counting)
    start = local(2026, 9, 28, 10, 0)
    calendar = WorkCalendar()
    due = calendar.add_working_days(start, 5)
    assert calendar.add_working_days(start, 5) == due == local(2026, 10, 10, 10, 0)
    assert len(asked) == len(set(asked)) == 12  # Golden Week: each day asked once
    monkeypatch.setattr(sla, "WORKDAY_CACHE_SIZE", 5)
    small = WorkCalendar()
    assert small.add_working_days(start, 5) == due
    assert len(small._workdays) <= 5
