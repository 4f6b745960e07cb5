"""Statistics for the API (``GET /api/v1/stats/...``): the live queue, SLA status
per department, hotspots, and the assessment indicators of :mod:`sinks.assessment`.

Plain grouped SQL on the ``cases`` projection, so SQLite and PostgreSQL answer
the same. Every count is of cases (not reports); ``heat`` is the number of
reports that joined the cases (DESIGN.md §2 aggregate).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Engine,
    and_,
    case,
    desc,
    func,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import JSONB

from schemas.cases import LIVE_STATES, CaseState, Priority, SlaState
from sinks.assessment import (
    AreaLevel,
    area_indicators,
    department_indicators,
    grid_worker_indicators,
)
from sinks.models import cases
from sinks.windows import WindowRule, windows

# The states a department's SLA clock runs in (resolved waits on verification).
_SLA_STATES = (CaseState.DISPATCHED.value, CaseState.IN_PROGRESS.value)
_LIVE = tuple(sorted(s.value for s in LIVE_STATES))
MAX_HOTSPOTS = 100


class CaseStats:
    """Read-only statistics on one engine; each call opens its own connection."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _of_department(self, department: str) -> ColumnElement[bool]:
        if self.engine.dialect.name == "postgresql":
            joined: ColumnElement[bool] = type_coerce(cases.c.departments, JSONB).contains(
                [department]
            )
        else:
            each = func.json_each(cases.c.departments).table_valued("value")
            joined = select(each.c.value).where(each.c.value == department).exists()
        return or_(cases.c.lead_department == department, joined)

    def queue(self, *, department: str | None = None) -> dict[str, Any]:
        """Live cases by state × priority and by SLA state (a department: its own)."""
        conditions: list[ColumnElement[bool]] = [cases.c.state.in_(_LIVE)]
        if department is not None:
            conditions.append(self._of_department(department))
        by_state = (
            select(cases.c.state, cases.c.priority, func.count())
            .where(*conditions)
            .group_by(cases.c.state, cases.c.priority)
        )
        by_sla = (
            select(cases.c.sla_state, func.count()).where(*conditions).group_by(cases.c.sla_state)
        )
        table: dict[str, dict[str, int]] = {
            state: {p.value: 0 for p in Priority} for state in _LIVE
        }
        sla = {s.value: 0 for s in SlaState}
        with self.engine.connect() as conn:
            for state, priority, n in conn.execute(by_state):
                table.setdefault(str(state), {p.value: 0 for p in Priority})[str(priority)] = int(n)
            for sla_state, n in conn.execute(by_sla):
                sla[str(sla_state)] = int(n)
        return {
            "total": sum(sum(row.values()) for row in table.values()),
            "by_state_priority": table,
            "by_sla_state": sla,
        }

    def sla(self, *, department: str | None = None) -> list[dict[str, Any]]:
        """Per lead department, its dispatched / in-progress cases by SLA state."""
        conditions: list[ColumnElement[bool]] = [
            cases.c.state.in_(_SLA_STATES),
            cases.c.lead_department.is_not(None),
        ]
        if department is not None:
            conditions.append(cases.c.lead_department == department)
        query = (
            select(cases.c.lead_department, cases.c.sla_state, func.count())
            .where(*conditions)
            .group_by(cases.c.lead_department, cases.c.sla_state)
        )
        rows: dict[str, dict[str, int]] = {}
        with self.engine.connect() as conn:
            for dept, sla_state, n in conn.execute(query):
                row = rows.setdefault(str(dept), {s.value: 0 for s in SlaState})
                row[str(sla_state)] = int(n)
        return [
            {"department": dept, **counts, "total": sum(counts.values())}
            for dept, counts in sorted(rows.items())
        ]

    def hotspots(
        self, since: datetime, until: datetime, *, limit: int = 20
    ) -> list[dict[str, Any]]:
        """Grid × category pairs with the most live cases opened in ``[since, until)``,
        then the most reports (heat)."""
        limit = max(1, min(limit, MAX_HOTSPOTS))
        window = and_(cases.c.opened_at >= since, cases.c.opened_at < until)
        live = func.sum(case((cases.c.state.in_(_LIVE), 1), else_=0))
        open_cases = func.coalesce(live, 0).label("open_cases")
        heat = func.coalesce(func.sum(cases.c.report_count), 0).label("heat")
        query = (
            select(
                cases.c.grid_code,
                cases.c.category,
                func.count().label("cases"),
                open_cases,
                heat,
            )
            .where(window)
            .group_by(cases.c.grid_code, cases.c.category)
            .order_by(desc("open_cases"), desc("heat"), cases.c.grid_code, cases.c.category)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [
                {
                    "grid_code": grid,
                    "category": category,
                    "cases": int(n),
                    "open_cases": int(n_open),
                    "heat": int(n_heat),
                }
                for grid, category, n, n_open, n_heat in conn.execute(query)
            ]

    def departments(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Assessment indicators per department (see :mod:`sinks.assessment`)."""
        return department_indicators(self.engine, start, end)

    def areas(self, start: datetime, end: datetime, level: AreaLevel) -> list[dict[str, Any]]:
        """Assessment indicators per street or community (see :mod:`sinks.assessment`)."""
        return area_indicators(self.engine, start, end, level)

    def grid_workers(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Assessment indicators per grid worker (see :mod:`sinks.assessment`)."""
        return grid_worker_indicators(self.engine, start, end)

    def windows(
        self,
        rule: WindowRule,
        *,
        hours: int = 24,
        grid_code: str | None = None,
        category: str | None = None,
        source: str | None = None,
    ) -> dict[str, Any]:
        """Reports per hotspot window against the rule's baseline (see :mod:`sinks.windows`)."""
        return windows(
            self.engine,
            rule,
            hours=hours,
            grid_code=grid_code,
            category=category,
            source=source,
        )
