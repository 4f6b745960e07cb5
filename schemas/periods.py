"""Reporting periods (week, month, quarter) in the district's time zone, as aware
``[start, end)`` datetimes: the public scorecards and the weekly/monthly briefs
count over the same calendar periods, each with the one before it (the trend)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo


class PeriodKind(StrEnum):
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"


@dataclass(frozen=True)
class Period:
    kind: PeriodKind
    first_day: date
    end_day: date  # exclusive
    tz: str

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first_day, time(), ZoneInfo(self.tz))

    @property
    def end(self) -> datetime:
        return datetime.combine(self.end_day, time(), ZoneInfo(self.tz))

    @property
    def label(self) -> str:
        """``2026-W49``, ``2026-12``, ``2026-Q4``."""
        match self.kind:
            case PeriodKind.WEEK:
                year, week, _ = self.first_day.isocalendar()
                return f"{year}-W{week:02d}"
            case PeriodKind.MONTH:
                return f"{self.first_day:%Y-%m}"
        return f"{self.first_day.year}-Q{(self.first_day.month - 1) // 3 + 1}"

    def previous(self) -> Period:
        return period_of(self.kind, self.first_day - timedelta(days=1), self.tz)

    def days(self) -> list[date]:
        return [
            self.first_day + timedelta(days=n) for n in range((self.end_day - self.first_day).days)
        ]


def period_of(kind: PeriodKind, day: date, tz: str) -> Period:
    """The week (Monday first), month or quarter that ``day`` falls in."""
    match kind:
        case PeriodKind.WEEK:
            first = day - timedelta(days=day.weekday())
            return Period(kind, first, first + timedelta(days=7), tz)
        case PeriodKind.MONTH:
            first = day.replace(day=1)
            return Period(kind, first, _add_months(first, 1), tz)
    first = day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
    return Period(kind, first, _add_months(first, 3), tz)


def last_complete(kind: PeriodKind, now: datetime, tz: str) -> Period:
    """The latest period that has ended by ``now``."""
    today = now.astimezone(ZoneInfo(tz)).date()
    return period_of(kind, today, tz).previous()


def _add_months(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def periods_ending(today: date) -> list[PeriodKind]:
    """The periods whose brief is due on ``today``'s morning: the week on a
    Monday, the month on the 1st (each just ended)."""
    due = [PeriodKind.WEEK] if today.weekday() == 0 else []
    return due + ([PeriodKind.MONTH] if today.day == 1 else [])
