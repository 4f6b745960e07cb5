"""SLA policies and the working-day calendar (DESIGN.md §2 Assign, §5).

Urgent priorities resolve in clock hours; the others in working days on the
Chinese public-holiday calendar (``chinese_calendar``), with day boundaries in
the district's local time (Asia/Shanghai). For years the library has no data for
(1.11 stops at 2026), the calendar falls back to Monday-Friday plus the override
file, logs a warning once per year, and never fails.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import chinese_calendar

from routing import _loading as L
from schemas.cases import Priority

log = logging.getLogger(__name__)

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
WORKDAY_CACHE_SIZE = 4096  # days; cleared when full, so memory stays bounded


@dataclass(frozen=True)
class SlaPolicy:
    """Respond within ``respond_hours``; resolve within clock hours or working days."""

    priority: Priority
    respond_hours: float
    resolve_hours: float | None = None
    resolve_working_days: int | None = None

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
    try:
        return SlaPolicy(priority, L.number(entry, "respond_hours", where), hours, days)
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


@dataclass(frozen=True)
class CalendarOverrides:
    """Holidays and make-up workdays announced after the calendar library's data ends."""

    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()

    @classmethod
    def load(cls, path: Path) -> CalendarOverrides:
        data = L.read_yaml(path)
        where = str(path)
        overrides = cls(
            _dates(data.get("holidays"), "holidays", where),
            _dates(data.get("workdays"), "workdays", where),
        )
        both = sorted(overrides.holidays & overrides.workdays)
        if both:
            raise ValueError(f"{where}: {both[0]} is listed as both holiday and workday")
        return overrides


@dataclass
class WorkCalendar:
    """Working days: overrides first, then ``chinese_calendar``, else Monday-Friday."""

    overrides: CalendarOverrides = field(default_factory=CalendarOverrides)
    tz: ZoneInfo = LOCAL_TZ
    _warned_years: set[int] = field(default_factory=set, repr=False, compare=False)
    # Answers per date: ``chinese_calendar`` re-checks its supported range on every
    # call, which was a fifth of deciding a new case. Dates of a few years at most.
    _workdays: dict[date, bool] = field(default_factory=dict, repr=False, compare=False)

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
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            self._warn_once(day.year)
            return day.weekday() < 5

    def _warn_once(self, year: int) -> None:
        if year in self._warned_years:
            return
        self._warned_years.add(year)
        log.warning(
            "no official holiday data for %d in chinese_calendar; the SLA clock counts "
            "Monday-Friday plus the calendar overrides file for that year",
            year,
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


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("SLA times must be timezone-aware")
    return moment


class SlaClock:
    """SLA deadlines from the policy of a priority on a working-day calendar."""

    def __init__(self, policies: Mapping[Priority, SlaPolicy], calendar: WorkCalendar) -> None:
        self.policies = dict(policies)
        self.calendar = calendar

    def deadlines(self, priority: Priority, start: datetime) -> tuple[datetime, datetime]:
        """``(respond_by, resolve_by)`` in UTC for a case whose clock starts at ``start``."""
        policy = self.policies[Priority(priority)]
        start = _aware(start).astimezone(UTC)
        respond_by = start + timedelta(hours=policy.respond_hours)
        if policy.resolve_hours is not None:
            return respond_by, start + timedelta(hours=policy.resolve_hours)
        days = policy.resolve_working_days or 0
        return respond_by, self.calendar.add_working_days(start, days)
