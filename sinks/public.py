"""Public figures (三公开, DESIGN.md §5 public): what ``/public/`` and
``GET /api/v1/public/...`` show to anyone, read from the projection.

Nothing here reads a report, a description, a reporter or a point: only case
codes, counts and dates, for categories the taxonomy flags public, and places
no finer than a street (:mod:`schemas.publicdata` says what may go out).

- :meth:`PublicFigures.scorecards`: per department and per street, the
  assessment indicators of :mod:`sinks.assessment` for a period (the same
  computation the leaders read: 缓办 out of 按期结案率, 延期率), ranked by
  按期结案率 (then 结案率, then satisfaction), each with the previous period's
  figures beside it (the trend);
- :meth:`PublicFigures.counts`: cases opened per category, street and day;
- :meth:`PublicFigures.stories`: closed cases — category, street, the dates
  opened and closed, nothing else.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select

from schemas.cases import CaseState
from schemas.periods import Period
from schemas.publicdata import story
from sinks.assessment import area_indicators, department_indicators
from sinks.models import cases

MAX_STORIES = 200
# The indicators a scorecard shows, in order (labels come from sinks.assessment).
SCORECARD_FIELDS = (
    "due",
    "deferred",  # 缓办: out of 按期结案率's denominator
    "closed",
    "closed_on_time",
    "on_time_rate",
    "closure_rate",
    "rework_rate",
    "extension_rate",  # 延期率: tasks with an approved extension / tasks due
    "mean_satisfaction",
    "ratings",
)
_NOT_COUNTED = (CaseState.REJECTED.value, CaseState.MERGED.value)


def _rank_key(row: dict[str, Any]) -> tuple[float, float, float, str]:
    def value(name: str) -> float:
        v = row.get(name)
        return -1.0 if v is None else float(v)

    return (-value("on_time_rate"), -value("closure_rate"), -value("mean_satisfaction"), row["key"])


def _card(row: dict[str, Any], key: str) -> dict[str, Any]:
    return {"key": row[key], **{f: row.get(f) for f in SCORECARD_FIELDS if f in row}}


def ranked(current: list[dict[str, Any]], previous: list[dict[str, Any]], key: str) -> list[Any]:
    """Cards ranked best first, each with ``rank``, ``previous`` (the card of the
    period before, or None) and ``trend`` (change of 按期结案率, None when unknown)."""
    before = {row[key]: _card(row, key) for row in previous}
    cards = sorted((_card(row, key) for row in current), key=_rank_key)
    out = []
    for n, card in enumerate(cards, start=1):
        prev = before.get(card["key"])
        now_rate, prev_rate = card.get("on_time_rate"), (prev or {}).get("on_time_rate")
        trend = None
        if now_rate is not None and prev_rate is not None:
            trend = round(now_rate - prev_rate, 4)
        out.append({"rank": n, **card, "previous": prev, "trend": trend})
    return out


class PublicFigures:
    """Public reads on one engine, limited to the public categories (a collection,
    or a function giving the current ones: the taxonomy can be reloaded live)."""

    def __init__(
        self, engine: Engine, public_categories: Collection[str] | Callable[[], Collection[str]]
    ) -> None:
        self.engine = engine
        self._categories = public_categories

    @property
    def categories(self) -> list[str]:
        found = self._categories() if callable(self._categories) else self._categories
        return sorted(found)

    def scorecards(self, period: Period) -> dict[str, Any]:
        before = period.previous()
        return {
            "departments": ranked(
                department_indicators(self.engine, period.start, period.end),
                department_indicators(self.engine, before.start, before.end),
                "department",
            ),
            "streets": ranked(
                area_indicators(self.engine, period.start, period.end, "street"),
                area_indicators(self.engine, before.start, before.end, "street"),
                "street",
            ),
        }

    def counts(self, period: Period) -> dict[str, Any]:
        """Cases opened in the period (not rejected or merged), public categories only."""
        query = select(cases.c.category, cases.c.street_code, cases.c.opened_at).where(
            cases.c.opened_at >= period.start,
            cases.c.opened_at < period.end,
            cases.c.category.in_(self.categories),
            cases.c.state.not_in(_NOT_COUNTED),
        )
        zone = ZoneInfo(period.tz)
        by_category: Counter[str] = Counter()
        by_street: Counter[str] = Counter()
        by_day: Counter[str] = Counter({day.isoformat(): 0 for day in period.days()})
        with self.engine.connect() as conn:
            for category, street, opened_at in conn.execute(query):
                by_category[str(category)] += 1
                by_street[str(street)] += 1
                by_day[opened_at.astimezone(zone).date().isoformat()] += 1
        return {
            "total": sum(by_category.values()),
            "by_category": dict(by_category.most_common()),
            "by_street": dict(by_street.most_common()),
            "by_day": dict(sorted(by_day.items())),
        }

    def stories(self, period: Period, limit: int = 50) -> list[dict[str, Any]]:
        """Cases closed in the period, newest first: category, street, dates."""
        limit = max(1, min(limit, MAX_STORIES))
        query = (
            select(cases.c.category, cases.c.street_code, cases.c.opened_at, cases.c.closed_at)
            .where(
                cases.c.state == CaseState.CLOSED.value,
                cases.c.closed_at >= period.start,
                cases.c.closed_at < period.end,
                cases.c.category.in_(self.categories),
            )
            .order_by(cases.c.closed_at.desc(), cases.c.id)
            .limit(limit)
        )
        zone = ZoneInfo(period.tz)
        with self.engine.connect() as conn:
            return [
                story(str(category), str(street), _day(opened, zone), _day(closed, zone))
                for category, street, opened, closed in conn.execute(query)
            ]


def _day(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()
