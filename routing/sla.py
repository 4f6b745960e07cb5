"""SLA policies and the working-day calendar (DESIGN.md §2 Assign, §5).

Urgent priorities resolve in clock hours; the others in working days, with day
boundaries in the district's local time (Asia/Shanghai). A date is a working day
or not by the first of these that knows its year:

1. the override file (``calendar_overrides.yaml``): its listed holidays and
   make-up workdays win over everything; a year it declares complete
   (``official_years``) is taken from it alone, Monday-Friday on the other days;
2. ``chinese_calendar``, the official State Council schedules with their make-up
   workdays (调休), for the years it carries (1.11: 2004-2026);
3. the ``holidays`` package (``holidays.China``), which computes each year's
   statutory holidays, lunar ones included, and carries the announced make-up
   workdays for the years it has the notice of (0.108: up to 2026);
4. Monday-Friday, for a year none of them knows (``holidays`` has 1950-2100).

A year is *official* when the file declares it, ``chinese_calendar`` carries it,
or ``holidays`` has its make-up workdays; otherwise *provisional*: statutory
holidays only, no 调休 (``WorkCalendar.schedule``, ``provisional_years``,
``missing_schedule_warning``). Counting a provisional year logs a warning once
per year; the calendar never fails.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import chinese_calendar
from holidays import country_holidays
from holidays.version import __version__ as HOLIDAYS_VERSION

from routing import _loading as L
from schemas.cases import Priority

log = logging.getLogger(__name__)

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
WORKDAY_CACHE_SIZE = 4096  # days; cleared when full, so memory stays bounded


DEFAULT_VERIFY_HOURS = 48.0


@dataclass(frozen=True)
class SlaPolicy:
    """Respond within ``respond_hours``; resolve within clock hours or working days;
    verify a resolved case on site within ``verify_hours``."""

    priority: Priority
    respond_hours: float
    resolve_hours: float | None = None
    resolve_working_days: int | None = None
    verify_hours: float = DEFAULT_VERIFY_HOURS

    def __post_init__(self) -> None:
        if (self.resolve_hours is None) == (self.resolve_working_days is None):
            raise ValueError(
                f"{self.priority}: give exactly one of resolve_hours, resolve_working_days"
            )


def _policy(priority: Priority, entry: Any, where: str) -> SlaPolicy:
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where}: must be a mapping")
    days = entry.get("resolve_working_days")
    if days is not None and (isinstance(days, bool) or not isinstance(days, int) or days < 1):
        raise ValueError(f"{where}: `resolve_working_days` must be a positive integer")
    hours = L.number(entry, "resolve_hours", where) if "resolve_hours" in entry else None
    verify = (
        L.number(entry, "verify_hours", where) if "verify_hours" in entry else DEFAULT_VERIFY_HOURS
    )
    try:
        return SlaPolicy(priority, L.number(entry, "respond_hours", where), hours, days, verify)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def load_policies(data: Mapping[str, Any], where: str) -> dict[Priority, SlaPolicy]:
    """The ``sla:`` section: one policy for each of P1..P4."""
    section = data.get("sla")
    if not isinstance(section, Mapping):
        raise ValueError(f"{where}: `sla` must be a mapping of P1..P4")
    policies = {}
    for key, entry in section.items():
        priority = L.priority(key, "sla", where)
        policies[priority] = _policy(priority, entry, f"{where}: sla {key}")
    missing = [p.value for p in Priority if p not in policies]
    if missing:
        raise ValueError(f"{where}: sla has no policy for {', '.join(missing)}")
    return policies


def _dates(values: Any, key: str, where: str) -> frozenset[date]:
    if values is None:
        return frozenset()
    if not isinstance(values, list):
        raise ValueError(f"{where}: `{key}` must be a list of YYYY-MM-DD dates")
    out = set()
    for value in values:
        try:
            out.add(value if isinstance(value, date) else date.fromisoformat(str(value)))
        except ValueError:
            raise ValueError(f"{where}: `{key}`: {value!r} is not a YYYY-MM-DD date") from None
    return frozenset(out)


def _years(values: Any, key: str, where: str) -> frozenset[int]:
    if values is None:
        return frozenset()
    if not isinstance(values, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) and 1900 <= v <= 9999 for v in values
    ):
        raise ValueError(f"{where}: `{key}` must be a list of years such as 2027")
    return frozenset(values)


@dataclass(frozen=True)
class CalendarOverrides:
    """Holidays and make-up workdays announced after the calendar libraries' data ends;
    ``official_years``: years whose whole official schedule is listed here."""

    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()
    official_years: frozenset[int] = frozenset()

    @classmethod
    def load(cls, path: Path) -> CalendarOverrides:
        data = L.read_yaml(path)
        where = str(path)
        overrides = cls(
            _dates(data.get("holidays"), "holidays", where),
            _dates(data.get("workdays"), "workdays", where),
            _years(data.get("official_years"), "official_years", where),
        )
        both = sorted(overrides.holidays & overrides.workdays)
        if both:
            raise ValueError(f"{where}: {both[0]} is listed as both holiday and workday")
        listed = {day.year for day in overrides.holidays}
        for year in sorted(overrides.official_years - listed):
            raise ValueError(
                f"{where}: `official_years` declares {year} complete but `holidays` "
                f"lists no date in {year}"
            )
        return overrides


ScheduleStatus = Literal["official", "provisional"]
ScheduleSource = Literal["overrides", "chinese_calendar", "holidays", "weekdays"]


@dataclass(frozen=True)
class YearSchedule:
    """Where the working days of ``year`` come from, and whether they are official.

    ``provisional``: no announced schedule yet, so the make-up workdays (调休) and
    the full holiday ranges are missing; ``reason`` says so in one sentence."""

    year: int
    status: ScheduleStatus
    source: ScheduleSource
    reason: str

    @property
    def official(self) -> bool:
        return self.status == "official"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"year", "status", "source", "reason"}``."""
        return {
            "year": self.year,
            "status": self.status,
            "source": self.source,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class _Year:
    """How one year's dates are decided (after the override file's listed dates)."""

    schedule: YearSchedule
    holidays: frozenset[date] = frozenset()  # from ``holidays`` only
    workdays: frozenset[date] = frozenset()  # make-up workdays, from ``holidays`` only


@cache
def _chinese_calendar_years() -> range:
    """The years ``chinese_calendar`` carries official data for."""
    try:
        known = chinese_calendar.holidays
        return range(min(known).year, max(known).year + 1)
    except Exception:  # an unexpected library shape: treat it as knowing nothing
        log.exception("cannot read the years chinese_calendar covers")
        return range(0)


def _package_year(year: int) -> tuple[frozenset[date], frozenset[date]] | None:
    """``(holidays, make-up workdays)`` of ``year`` from ``holidays.China``; ``None``
    when the package has no holiday in that year or fails."""
    try:
        china = country_holidays("CN", years=year)
        days = frozenset(day for day in china if day.year == year)
        workdays = frozenset(
            day for day in china.weekend_workdays if day.year == year and day not in days
        )
    except Exception:  # the SLA clock never fails on a calendar library
        log.exception("holidays.China failed for %d", year)
        return None
    return (days, workdays) if days else None


YEAR_CACHE_SIZE = 32  # years; cleared when full


@dataclass
class WorkCalendar:
    """Working days: overrides first, then ``chinese_calendar``, then ``holidays.China``,
    else Monday-Friday (see the module docstring)."""

    overrides: CalendarOverrides = field(default_factory=CalendarOverrides)
    tz: ZoneInfo = LOCAL_TZ
    _warned_years: set[int] = field(default_factory=set, repr=False, compare=False)
    # Answers per date: ``chinese_calendar`` re-checks its supported range on every
    # call, which was a fifth of deciding a new case. Dates of a few years at most.
    _workdays: dict[date, bool] = field(default_factory=dict, repr=False, compare=False)
    _year_rules: dict[int, _Year] = field(default_factory=dict, repr=False, compare=False)

    def is_workday(self, day: date) -> bool:
        known = self._workdays.get(day)
        if known is None:
            if len(self._workdays) >= WORKDAY_CACHE_SIZE:
                self._workdays.clear()
            known = self._workdays[day] = self._is_workday(day)
        return known

    def _is_workday(self, day: date) -> bool:
        if day in self.overrides.holidays:
            return False
        if day in self.overrides.workdays:
            return True
        rules = self._rules(day.year)
        if not rules.schedule.official:
            self._warn_once(rules.schedule)
        if rules.schedule.source == "chinese_calendar":
            try:
                return bool(chinese_calendar.is_workday(day))
            except NotImplementedError:  # outside the years it said it covers
                return day.weekday() < 5
        if day in rules.workdays:
            return True
        if day in rules.holidays:
            return False
        return day.weekday() < 5

    def schedule(self, year: int) -> YearSchedule:
        """Whether ``year``'s working days are ``official`` or ``provisional``, and why."""
        return self._rules(year).schedule

    def provisional_years(self, around: date) -> tuple[int, ...]:
        """Of the year of ``around`` (a local date, or an aware time) and the next
        one, those whose schedule is provisional."""
        year = _local_date(around, self.tz).year
        return tuple(y for y in (year, year + 1) if not self.schedule(y).official)

    def _rules(self, year: int) -> _Year:
        rules = self._year_rules.get(year)
        if rules is None:
            if len(self._year_rules) >= YEAR_CACHE_SIZE:
                self._year_rules.clear()
            rules = self._year_rules[year] = self._decide_year(year)
        return rules

    def _decide_year(self, year: int) -> _Year:
        if year in self.overrides.official_years:
            return _Year(
                YearSchedule(
                    year,
                    "official",
                    "overrides",
                    "declared complete in the calendar overrides file (official_years)",
                )
            )
        if year in _chinese_calendar_years():
            version = getattr(chinese_calendar, "__version__", "")
            return _Year(
                YearSchedule(
                    year,
                    "official",
                    "chinese_calendar",
                    f"official schedule with make-up workdays from chinese_calendar {version}",
                )
            )
        package = _package_year(year)
        if package is None:
            return _Year(
                YearSchedule(
                    year,
                    "provisional",
                    "weekdays",
                    f"Monday to Friday only (no holiday data for {year}), plus the "
                    "calendar overrides file",
                )
            )
        days, workdays = package
        if workdays:
            reason = f"official schedule with make-up workdays from holidays {HOLIDAYS_VERSION}"
            return _Year(YearSchedule(year, "official", "holidays", reason), days, workdays)
        reason = (
            f"the statutory holidays computed by holidays {HOLIDAYS_VERSION}, without "
            "the make-up workdays (调休) and full holiday ranges of an official schedule"
        )
        return _Year(YearSchedule(year, "provisional", "holidays", reason), days)

    def _warn_once(self, schedule: YearSchedule) -> None:
        if schedule.year in self._warned_years:
            return
        self._warned_years.add(schedule.year)
        log.warning(
            "no official working-day schedule for %d; the SLA clock counts %s",
            schedule.year,
            schedule.reason,
        )

    def add_working_days(self, start: datetime, n: int) -> datetime:
        """The same local time of day, ``n`` working days after ``start``'s local date
        (a start on a rest day counts from the next working day); in UTC."""
        if n < 0:
            raise ValueError("n must be >= 0")
        local = _aware(start).astimezone(self.tz)
        day = local.date()
        remaining = n
        while remaining:
            day += timedelta(days=1)
            if self.is_workday(day):
                remaining -= 1
        return datetime.combine(day, local.time(), tzinfo=self.tz).astimezone(UTC)


def _local_date(moment: date, tz: ZoneInfo) -> date:
    """A date as it is; an aware time as its date in ``tz``."""
    if isinstance(moment, datetime):
        return _aware(moment).astimezone(tz).date()
    return moment


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("SLA times must be timezone-aware")
    return moment


class SlaClock:
    """SLA deadlines from the policy of a priority on a working-day calendar.

    ``scale`` multiplies every span (1: as the policies say): a drill or a test
    shortens the SLA through settings without another rules file."""

    def __init__(
        self, policies: Mapping[Priority, SlaPolicy], calendar: WorkCalendar, scale: float = 1.0
    ) -> None:
        if not scale > 0:
            raise ValueError("the SLA scale must be positive")
        self.policies = dict(policies)
        self.calendar = calendar
        self.scale = scale

    def deadlines(self, priority: Priority, start: datetime) -> tuple[datetime, datetime]:
        """``(respond_by, resolve_by)`` in UTC for a case whose clock starts at ``start``."""
        policy = self.policies[Priority(priority)]
        start = _aware(start).astimezone(UTC)
        respond_by = start + timedelta(hours=policy.respond_hours) * self.scale
        if policy.resolve_hours is not None:
            return respond_by, start + timedelta(hours=policy.resolve_hours) * self.scale
        days = policy.resolve_working_days or 0
        return respond_by, start + (
            self.calendar.add_working_days(start, days) - start
        ) * self.scale

    def verify_by(self, priority: Priority, resolved_at: datetime) -> datetime:
        """When a case resolved at ``resolved_at`` must be verified on site."""
        policy = self.policies[Priority(priority)]
        return (
            _aware(resolved_at).astimezone(UTC) + timedelta(hours=policy.verify_hours) * self.scale
        )


WARN_NEXT_YEAR_FROM = (11, 1)  # (month, day): the State Council notice comes in November


def missing_schedule_warning(calendar: WorkCalendar, today: date) -> str | None:
    """A message for the duty office when the SLA calendar lacks an official schedule
    for this year, or, from 1 November, for next year; ``None`` otherwise.

    ``today`` is the local date (an aware time is taken in the calendar's time zone).
    No clock, no I/O: callers (API, console, supervision timer) pass the day."""
    local = _local_date(today, calendar.tz)
    years = [local.year] if not calendar.schedule(local.year).official else []
    if (local.month, local.day) >= WARN_NEXT_YEAR_FROM:
        years += [y for y in calendar.provisional_years(local) if y != local.year]
    if not years:
        return None
    listed = " and ".join(str(year) for year in years)
    counted = "; ".join(f"in {year} count {calendar.schedule(year).reason}" for year in years)
    return (
        f"No official holiday schedule (节假日安排) for {listed} in the SLA calendar: "
        f"working-day deadlines {counted}. Add the State Council notice to "
        "calendar_overrides.yaml (holidays, workdays, official_years) or upgrade the "
        "holiday libraries."
    )
