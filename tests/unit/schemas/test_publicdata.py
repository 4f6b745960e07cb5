"""What may go public: personal data found, points snapped, periods counted."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from schemas.periods import PeriodKind, last_complete, period_of, periods_ending
from schemas.publicdata import personal_data_in, plain_status, snap_point, story

TZ = "Asia/Shanghai"


def test_personal_data_in_finds_phones_landlines_id_numbers_and_names() -> None:
    text = "王小明 13912345678 010-62345678 11010519900101123X 工单 20261207000001"
    assert personal_data_in(text, ["王小明", "李四"]) == [
        "phone:13912345678",
        "landline:010-62345678",
        "id_number:11010519900101123X",
        "name:王小明",
    ]
    assert personal_data_in("990101001001001 2026-12-07 P3") == []


def test_snapped_points_say_no_more_than_their_cell() -> None:
    a = snap_point(39.90201, 116.38301)
    assert snap_point(a[0] + 0.0003, a[1] - 0.0004) == a  # anywhere in the cell
    assert abs(a[0] - 39.902) < 0.001 and abs(a[1] - 116.383) < 0.0015
    assert snap_point(39.9035, 116.3835) != a


def test_a_story_has_category_street_and_dates_only() -> None:
    told = story("road_damage", "990101001002", date(2026, 11, 1), date(2026, 11, 3))
    assert told == {
        "category": "road_damage",
        "street_code": "990101001",
        "opened": "2026-11-01",
        "closed": "2026-11-03",
    }


def test_plain_status_has_both_languages() -> None:
    assert plain_status("resolved") == {
        "zh": "已处理，等待现场核查",
        "en": "Fixed; waiting to be checked on site",
    }
    assert plain_status("unknown")["en"] == "In progress"


@pytest.mark.parametrize(
    ("kind", "first", "end", "label"),
    [
        (PeriodKind.WEEK, date(2026, 12, 7), date(2026, 12, 14), "2026-W50"),
        (PeriodKind.MONTH, date(2026, 12, 1), date(2027, 1, 1), "2026-12"),
        (PeriodKind.QUARTER, date(2026, 10, 1), date(2027, 1, 1), "2026-Q4"),
    ],
)
def test_periods(kind: PeriodKind, first: date, end: date, label: str) -> None:
    period = period_of(kind, date(2026, 12, 9), TZ)
    assert (period.first_day, period.end_day, period.label) == (first, end, label)
    assert period.start.isoformat() == f"{first.isoformat()}T00:00:00+08:00"
    assert period.previous().end_day == first


def test_last_complete_month_in_the_district_zone() -> None:
    # 2026-12-31 17:00 UTC is already 2027-01-01 in Beijing: December is complete.
    now = datetime(2026, 12, 31, 17, 0, tzinfo=UTC)
    assert last_complete(PeriodKind.MONTH, now, TZ).label == "2026-12"


def test_digits_inside_ids_are_not_personal_data() -> None:
    assert personal_data_in("5b27418b-fc81-4dca-ac3b-0306666804ab 990101001001-4befe2245417") == []
    assert personal_data_in("电话13912345678，") == ["phone:13912345678"]


def test_weekly_briefs_on_mondays_and_monthly_on_the_first() -> None:
    assert periods_ending(date(2026, 12, 7)) == [PeriodKind.WEEK]  # a Monday
    assert periods_ending(date(2026, 12, 1)) == [PeriodKind.MONTH]  # a Tuesday
    assert periods_ending(date(2027, 3, 1)) == [PeriodKind.WEEK, PeriodKind.MONTH]
    assert periods_ending(date(2026, 12, 9)) == []
