"""Assessment (考核): department and grid-worker indicators from the case history.

Computed from the projection — the ``case_events`` timeline and the ``cases``
rows — over a half-open period ``[start, end)`` of aware datetimes. Plain SQL
plus Python arithmetic, so SQLite and PostgreSQL give the same numbers.

Departments are credited with what happened while they were the case's lead
department *at the time*: the timeline is replayed per case (``dispatched``
sets the lead from ``data.department``, ``reworked`` keeps it, ``returned``
clears it). Per department:

==========================  =====================================================
``dispatched``  派遣数        cases dispatched to it in the period
``returned``    退回数        cases it returned in the period (not ours)
``due``         应结案数      cases whose resolve deadline (``cases.resolve_by``) falls
                              in the period, by their current lead department;
                              rejected and merged cases are not due
``closed_on_time`` 按期结案数  of those due, the ones closed by the deadline
                              (``closed_at <= resolve_by``)
``closed``      结案数        cases closed in the period while it was the lead
``reworked_closed`` 返工结案数 of those closed, the ones reworked (返工) before closing
``on_time_rate`` 按期结案率    ``closed_on_time / due``
``closure_rate`` 结案率        ``closed / dispatched`` (both in the period, so it can
                              exceed 1 when earlier cases are closed now)
``rework_rate`` 返工率         ``reworked_closed / closed``
``resolved``    处置数        resolutions (``resolved`` events) in the period
``mean_handling_hours``       mean hours from the start of the assignment (the
                平均处置时长    ``dispatched``, or the ``reworked`` that sent it back)
                              to each ``resolved`` in the period
``ratings``     评价数        cases rated in the period by a reporter through the
                              feedback link (the last score counts)
``mean_satisfaction`` 平均满意度 mean of those scores (1–5)
==========================  =====================================================

A rate is ``None`` when its denominator is 0 (no basis, not 0 %). There are no
deferrals (缓办) in GridHub, so 应结案数 − 缓办数 = ``due`` (DESIGN.md §10).

Streets and communities (街道/社区, :func:`area_indicators`) get the same
indicators for the cases in their area, whoever handled them — the same replay,
credited by the case's area instead of its lead department.

Grid workers are the principals that submit reports (``reports.submitted_by``,
a principal id) and that verify on site (the ``actor`` of ``verified`` events,
``grid_worker:<principal id>``), one row per principal whatever its display
name (``grid_worker``, from ``principals``; two people of one name are two
rows): ``reports``
(上报数, received in the period), ``verifications`` (核查数), ``verifications_passed``
(核查通过数) and ``verification_pass_rate`` (核查通过率).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from statistics import fmean
from typing import Any, Literal

from sqlalchemy import ColumnElement, Engine, func, select

from schemas.cases import CaseEventType, CaseState
from sinks.models import case_events, cases, principals, reports

AreaLevel = Literal["street", "community"]
GRID_WORKER_ROLE = "grid_worker"  # the role prefix of a verifier recorded by the gateway
# Satisfaction is what the people who reported say through their feedback links
# (the case agent records them as "reporter:<report id>"), not the centre's own view.
SATISFACTION_RATERS = "reporter:"

DEPARTMENT_LABELS: dict[str, str] = {
    "department": "部门",
    "dispatched": "派遣数",
    "returned": "退回数",
    "due": "应结案数",
    "closed_on_time": "按期结案数",
    "closed": "结案数",
    "reworked_closed": "返工结案数",
    "on_time_rate": "按期结案率",
    "closure_rate": "结案率",
    "rework_rate": "返工率",
    "resolved": "处置数",
    "mean_handling_hours": "平均处置时长（小时）",
    "ratings": "评价数",
    "mean_satisfaction": "平均满意度",
}

GRID_WORKER_LABELS: dict[str, str] = {
    "grid_worker": "网格员",
    "reports": "上报数",
    "verifications": "核查数",
    "verifications_passed": "核查通过数",
    "verification_pass_rate": "核查通过率",
}

_TIMELINE_TYPES = tuple(
    t.value
    for t in (
        CaseEventType.DISPATCHED,
        CaseEventType.REWORKED,
        CaseEventType.RETURNED,
        CaseEventType.RESOLVED,
        CaseEventType.CLOSED,
        CaseEventType.RATED,
    )
)
_NOT_DUE = (CaseState.REJECTED.value, CaseState.MERGED.value)


def _check_period(start: datetime, end: datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    if not start < end:
        raise ValueError("start must be before end")


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _mean(values: Iterable[float], digits: int) -> float | None:
    items = list(values)
    return round(fmean(items), digits) if items else None


@dataclass
class _Dept:
    dispatched: set[str] = field(default_factory=set)
    returned: set[str] = field(default_factory=set)
    due: set[str] = field(default_factory=set)
    closed_on_time: set[str] = field(default_factory=set)
    closed: set[str] = field(default_factory=set)
    reworked_closed: set[str] = field(default_factory=set)
    handling_hours: list[float] = field(default_factory=list)
    scores: dict[str, int] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        return {
            "dispatched": len(self.dispatched),
            "returned": len(self.returned),
            "due": len(self.due),
            "closed_on_time": len(self.closed_on_time),
            "closed": len(self.closed),
            "reworked_closed": len(self.reworked_closed),
            "on_time_rate": _rate(len(self.closed_on_time), len(self.due)),
            "closure_rate": _rate(len(self.closed), len(self.dispatched)),
            "rework_rate": _rate(len(self.reworked_closed), len(self.closed)),
            "resolved": len(self.handling_hours),
            "mean_handling_hours": _mean(self.handling_hours, 2),
            "ratings": len(self.scores),
            "mean_satisfaction": _mean(self.scores.values(), 2),
            "labels": dict(DEPARTMENT_LABELS),
        }


def department_indicators(engine: Engine, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """One dict per department with any activity in ``[start, end)``, by code."""
    rows = _indicators(engine, start, end, lambda _case, lead: lead, cases.c.lead_department)
    return [{"department": code, **row} for code, row in rows]


def area_indicators(
    engine: Engine, start: datetime, end: datetime, level: AreaLevel
) -> list[dict[str, Any]]:
    """The same indicators per street (街道) or community (社区) where the cases
    are, whoever handled them: one dict per area code with any activity, by code."""
    _check_period(start, end)
    column = cases.c.street_code if level == "street" else cases.c.community_code
    touched = select(case_events.c.case_id).where(
        case_events.c.time >= start, case_events.c.time < end
    )
    with engine.connect() as conn:
        area = {
            str(case_id): str(code)
            for case_id, code in conn.execute(
                select(cases.c.id, column).where(cases.c.id.in_(touched))
            )
        }
    rows = _indicators(engine, start, end, lambda case_id, _lead: area.get(case_id), column)
    return [{level: code, **row} for code, row in rows]


def _indicators(
    engine: Engine,
    start: datetime,
    end: datetime,
    credit: Callable[[str, str | None], str | None],
    due_key: ColumnElement[Any],
) -> list[tuple[str, dict[str, Any]]]:
    """Replay the timeline once, crediting each fact to ``credit(case id, lead at
    the time)`` (nothing when it answers None); cases due go to ``due_key``."""
    _check_period(start, end)
    groups: defaultdict[str, _Dept] = defaultdict(_Dept)
    touched = (
        select(case_events.c.case_id)
        .where(case_events.c.time >= start, case_events.c.time < end)
        .distinct()
    )
    timeline = (
        select(
            case_events.c.case_id,
            case_events.c.version,
            case_events.c.type,
            case_events.c.time,
            case_events.c.actor,
            case_events.c.data,
        )
        .where(
            case_events.c.type.in_(_TIMELINE_TYPES),
            case_events.c.time < end,
            case_events.c.case_id.in_(touched),
        )
        .order_by(case_events.c.case_id, case_events.c.version)
    )
    due = select(cases.c.id, due_key, cases.c.resolve_by, cases.c.closed_at).where(
        cases.c.resolve_by >= start,
        cases.c.resolve_by < end,
        cases.c.state.not_in(_NOT_DUE),
        cases.c.lead_department.is_not(None),
    )
    due_closed = due.where(cases.c.state == CaseState.CLOSED.value)
    with engine.connect() as conn:
        rows = conn.execute(timeline).all()
        due_rows = conn.execute(due).all()
        closed_ids = {str(r.id) for r in conn.execute(due_closed)}

    current: str | None = None
    lead: str | None = None
    cycle_start: datetime | None = None
    reworks = 0
    for case_id, _version, type_, time, actor, data in rows:
        if case_id != current:
            current, lead, cycle_start, reworks = case_id, None, None, 0
        data = data or {}
        in_period = time >= start
        match type_:
            case "dispatched":
                lead = str(data.get("department") or "") or None
                cycle_start = time
                key = credit(case_id, lead)
                if in_period and lead and key:
                    groups[key].dispatched.add(case_id)
            case "reworked":
                lead = str(data.get("department") or "") or lead
                cycle_start = time
                reworks += 1
            case "returned":
                key = credit(case_id, lead)
                if in_period and lead and key:
                    groups[key].returned.add(case_id)
                lead, cycle_start = None, None
            case "resolved":
                key = credit(case_id, lead)
                if in_period and lead and key and cycle_start is not None:
                    hours = (time - cycle_start).total_seconds() / 3600
                    groups[key].handling_hours.append(hours)
            case "closed":
                key = credit(case_id, lead)
                if in_period and lead and key:
                    groups[key].closed.add(case_id)
                    if reworks:
                        groups[key].reworked_closed.add(case_id)
            case "rated":
                score = data.get("score")
                key = credit(case_id, lead)
                rater = str(actor).startswith(SATISFACTION_RATERS)
                if in_period and lead and key and rater and isinstance(score, int):
                    groups[key].scores[case_id] = score

    for case_id, group, resolve_by, closed_at in due_rows:
        entry = groups[str(group)]
        entry.due.add(str(case_id))
        if str(case_id) in closed_ids and closed_at is not None and closed_at <= resolve_by:
            entry.closed_on_time.add(str(case_id))

    return [(code, groups[code].row()) for code in sorted(groups)]


def grid_worker_indicators(engine: Engine, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """One dict per grid worker (principal) with reports or verifications in ``[start, end)``."""
    _check_period(start, end)
    submitted = (
        select(reports.c.submitted_by, func.count())
        .where(
            reports.c.submitted_by.is_not(None),
            reports.c.received_at >= start,
            reports.c.received_at < end,
        )
        .group_by(reports.c.submitted_by)
    )
    verified = select(case_events.c.actor, case_events.c.data).where(
        case_events.c.type == CaseEventType.VERIFIED.value,
        case_events.c.time >= start,
        case_events.c.time < end,
    )
    counts: defaultdict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    with engine.connect() as conn:
        for name, n in conn.execute(submitted):
            counts[str(name)][0] = int(n)
        for actor, data in conn.execute(verified):
            # The gateway records the verifier as "grid_worker:<principal id>" and
            # the reporter as the bare principal id: one person, one row.
            entry = counts[str(actor).removeprefix(f"{GRID_WORKER_ROLE}:")]
            entry[1] += 1
            if (data or {}).get("passed") is True:
                entry[2] += 1
        names = {
            str(row.id): str(row.name)
            for row in conn.execute(
                select(principals.c.id, principals.c.name).where(principals.c.id.in_(list(counts)))
            )
        }
    return [
        {
            "principal_id": name,
            "grid_worker": names.get(name, name),
            "reports": n_reports,
            "verifications": n_verified,
            "verifications_passed": n_passed,
            "verification_pass_rate": _rate(n_passed, n_verified),
            "labels": dict(GRID_WORKER_LABELS),
        }
        for name, (n_reports, n_verified, n_passed) in sorted(counts.items())
    ]
