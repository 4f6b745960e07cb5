"""Official or provisional: which years the SLA calendar has an announced schedule for."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from routing import sla
from routing.sla import CalendarOverrides, WorkCalendar, missing_schedule_warning

# The 2027 overrides below are made up for the tests, not the State Council's notice.
OFFICIAL_2027 = """
holidays: [2027-01-01, 2027-02-05, 2027-02-06, 2027-02-07, 2027-02-08, 2027-02-09,
           2027-02-10, 2027-02-11, 2027-02-12, 2027-02-13]
workdays: [2027-02-20]
official_years: [2027]
"""


def overrides(tmp_path: Path, text: str) -> CalendarOverrides:
    path = tmp_path / "calendar_overrides.yaml"
    path.write_text(text, encoding="utf-8")
    return CalendarOverrides.load(path)


def test_schedule_of_each_source() -> None:
    calendar = WorkCalendar()
    s2026 = calendar.schedule(2026)
    assert (s2026.status, s2026.source, s2026.official) == ("official", "chinese_calendar", True)
    s2027 = calendar.schedule(2027)
    assert (s2027.status, s2027.source, s2027.official) == ("provisional", "holidays", False)
    assert "调休" in s2027.reason
    # before chinese_calendar's first year, `holidays` carries the notices
    assert (calendar.schedule(2003).status, calendar.schedule(2003).source) == (
        "official",
        "holidays",
    )
    # past `holidays`' lunar tables: weekdays only
    s2101 = calendar.schedule(2101)
    assert (s2101.status, s2101.source) == ("provisional", "weekdays")
    assert s2027.as_dict() == {
        "year": 2027,
        "status": "provisional",
        "source": "holidays",
        "reason": s2027.reason,
    }


def test_make_up_workdays_from_holidays_when_chinese_calendar_lacks_the_year(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sla, "_chinese_calendar_years", lambda: range(0))
    calendar = WorkCalendar()
    assert (calendar.schedule(2026).status, calendar.schedule(2026).source) == (
        "official",
        "holidays",
    )
    assert calendar.is_workday(date(2026, 2, 14))  # Saturday, 调休
    assert not calendar.is_workday(date(2026, 2, 20))  # Friday, day off
    assert calendar.is_workday(date(2026, 10, 10))  # Saturday, 调休
    assert not calendar.is_workday(date(2026, 10, 7))


def test_official_years_come_from_the_overrides_file_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    calendar = WorkCalendar(overrides(tmp_path, OFFICIAL_2027))
    schedule = calendar.schedule(2027)
    assert (schedule.status, schedule.source) == ("official", "overrides")
    with caplog.at_level(logging.WARNING, logger="routing.sla"):
        assert not calendar.is_workday(date(2027, 2, 12))  # listed
        assert calendar.is_workday(date(2027, 2, 20))  # listed Saturday
        assert calendar.is_workday(date(2027, 4, 5))  # `holidays` says Qingming; not listed
        assert not calendar.is_workday(date(2027, 4, 3))  # Saturday
    assert not caplog.records
    assert calendar.provisional_years(date(2027, 6, 1)) == (2028,)


def test_official_years_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"`official_years` must be a list of years"):
        overrides(tmp_path, "official_years: ['2027']\n")
    with pytest.raises(ValueError, match=r"`official_years` must be a list of years"):
        overrides(tmp_path, "official_years: 2027\n")
    with pytest.raises(ValueError, match="declares 2028 complete but `holidays` lists no date"):
        overrides(tmp_path, "holidays: [2027-01-01]\nofficial_years: [2027, 2028]\n")


def test_the_packaged_overrides_file_declares_no_year() -> None:
    path = Path(sla.__file__).parent / "data" / "calendar_overrides.yaml"
    assert CalendarOverrides.load(path).official_years == frozenset()


def test_provisional_years_this_and_next() -> None:
    calendar = WorkCalendar()
    assert calendar.provisional_years(date(2026, 6, 1)) == (2027,)
    assert calendar.provisional_years(date(2027, 6, 1)) == (2027, 2028)
    assert calendar.provisional_years(date(2025, 6, 1)) == ()
    # 16:30 UTC on 31 Dec is 00:30 on 1 Jan in Shanghai
    assert calendar.provisional_years(datetime(2025, 12, 31, 16, 30, tzinfo=UTC)) == (2027,)
    with pytest.raises(ValueError, match="timezone-aware"):
        calendar.provisional_years(datetime(2026, 6, 1, 10, 0))


def test_warning_from_1_november_when_next_year_is_provisional() -> None:
    calendar = WorkCalendar()
    assert missing_schedule_warning(calendar, date(2026, 10, 31)) is None
    message = missing_schedule_warning(calendar, date(2026, 11, 1))
    assert message is not None
    assert "2027" in message and "调休" in message and "calendar_overrides.yaml" in message
    assert missing_schedule_warning(calendar, date(2026, 12, 31)) == message
    # the local day: 16:30 UTC on 31 Oct is already 1 Nov in Shanghai
    assert missing_schedule_warning(calendar, datetime(2026, 10, 31, 16, 30, tzinfo=UTC))
    assert missing_schedule_warning(calendar, datetime(2026, 10, 31, 15, 30, tzinfo=UTC)) is None
    # 2026 is official and 2025's November looks at 2026
    assert missing_schedule_warning(calendar, date(2025, 11, 20)) is None


def test_warning_all_year_when_this_year_is_provisional(tmp_path: Path) -> None:
    calendar = WorkCalendar()
    message = missing_schedule_warning(calendar, date(2027, 3, 1))
    assert message is not None and "for 2027 in" in message
    both = missing_schedule_warning(calendar, date(2027, 11, 1))
    assert both is not None and "for 2027 and 2028 in" in both
    declared = WorkCalendar(overrides(tmp_path, OFFICIAL_2027))
    assert missing_schedule_warning(declared, date(2026, 11, 15)) is None
    assert missing_schedule_warning(declared, date(2027, 3, 1)) is None


def test_a_failing_holidays_package_falls_back_to_weekdays(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("broken")

    monkeypatch.setattr(sla, "country_holidays", broken)
    calendar = WorkCalendar()
    with caplog.at_level(logging.WARNING, logger="routing.sla"):
        assert calendar.is_workday(date(2027, 1, 1))  # Friday, nothing knows better
        assert not calendar.is_workday(date(2027, 1, 2))
        assert calendar.is_workday(date(2027, 1, 4))
    assert calendar.schedule(2027).source == "weekdays"
    fallbacks = [r for r in caplog.records if r.getMessage().startswith("no official")]
    assert len(fallbacks) == 1 and "Monday to Friday" in fallbacks[0].getMessage()


def test_the_year_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sla, "YEAR_CACHE_SIZE", 3)
    calendar = WorkCalendar()
    for year in range(2020, 2030):
        calendar.schedule(year)
    assert len(calendar._year_rules) <= 3
    assert calendar.schedule(2027).source == "holidays"
