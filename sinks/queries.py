"""Read queries for the API: the case queue, case detail, report detail, and the
daily brief read on demand (:class:`BriefQueries`).

Results are plain dicts in the "case out" JSON shape of DESIGN.md §5 (plus a few
welcome extras). Datetimes are returned as timezone-aware UTC ``datetime``
objects (FastAPI/pydantic serialise them as ISO 8601). Reporter name and phone
are personal data (DESIGN.md §8): they appear only with ``include_personal``.

Each call opens and closes its own connection; nothing is cached.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    RowMapping,
    false,
    func,
    literal,
    or_,
    select,
)

from schemas.periods import Period
from schemas.reports import shown_reporter
from sinks import worklists
from sinks.brief_files import hotspot_alerts
from sinks.briefs import Brief, BriefNames, daily_brief, day_bounds, period_brief
from sinks.case_rows import LIKE_ESCAPE, case_out, has_department, like_literal
from sinks.models import case_events, cases, principals, reports
from sinks.outbox_models import inbox
from sinks.search import search_cases

MAX_LIMIT = 500


class CaseQueries:
    """Read side of the case projection, for the gateway."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def list_cases(
        self,
        *,
        state: str | None = None,
        category: str | None = None,
        grid_code: str | None = None,
        department: str | None = None,
        priority: str | None = None,
        limit: int = 50,
        offset: int = 0,
        street: str | None = None,
        sla_state: str | None = None,
        q: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        grid_prefixes: Sequence[str] | None = None,
        states: Sequence[str] | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of cases matching every given filter, and the total match count.

        Ordered by priority (P1 first), then newest ``opened_at``, then id.
        ``department`` matches the lead department or any co-department;
        ``street`` the 9-digit street code; ``q`` a case-insensitive substring of
        the title; ``since``/``until`` the half-open ``opened_at`` range
        ``[since, until)``; ``grid_prefixes`` grid codes starting with any of the
        given codes (a token's grid scope; an empty list matches nothing);
        ``states`` any of several states.
        ``limit`` is capped at :data:`MAX_LIMIT`; negative values are refused."""
        if limit < 0 or offset < 0:
            raise ValueError("limit and offset must not be negative")
        limit = min(limit, MAX_LIMIT)
        conditions: list[ColumnElement[bool]] = []
        for column_name, value in (
            ("state", state),
            ("category", category),
            ("grid_code", grid_code),
            ("priority", priority),
            ("street_code", street),
            ("sla_state", sla_state),
        ):
            if value is not None:
                conditions.append(cases.c[column_name] == value)
        if department is not None:
            conditions.append(
                or_(
                    cases.c.lead_department == department,
                    has_department(self.engine, department),
                )
            )
        if q:
            conditions.append(cases.c.title.ilike(f"%{like_literal(q)}%", escape=LIKE_ESCAPE))
        if since is not None:
            conditions.append(cases.c.opened_at >= since)
        if until is not None:
            conditions.append(cases.c.opened_at < until)
        if grid_prefixes is not None:
            conditions.append(
                or_(
                    false(),
                    *(
                        cases.c.grid_code.startswith(prefix, autoescape=True)
                        for prefix in grid_prefixes
                    ),
                )
            )
        if states is not None:
            conditions.append(cases.c.state.in_(list(states)))
        page = (
            select(cases)
            .where(*conditions)
            .order_by(cases.c.priority, cases.c.opened_at.desc(), cases.c.id)
            .limit(limit)
            .offset(offset)
        )
        count = select(func.count()).select_from(cases).where(*conditions)
        with self.engine.connect() as conn:
            total = int(conn.scalar(count) or 0)
            items = [case_out(row) for row in conn.execute(page).mappings()] if limit else []
        return items, total

    def get_case(self, case_id: str, include_personal: bool) -> dict[str, Any] | None:
        """The case with its ``reports`` (oldest first; with those of the cases merged
        into it) and ``timeline`` (by version)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(cases).where(cases.c.id == case_id)).mappings().first()
            if row is None:
                return None
            report_rows = conn.execute(
                select(reports)
                # A merge moves the reports of the absorbed case along with it.
                .where(
                    or_(
                        reports.c.case_id == case_id,
                        reports.c.case_id.in_(
                            select(cases.c.id).where(cases.c.merged_into == case_id)
                        ),
                    )
                )
                .order_by(reports.c.received_at, reports.c.id)
            ).mappings()
            found = [_report(r, include_personal) for r in report_rows]
            events = conn.execute(
                select(
                    case_events.c.version,
                    case_events.c.type,
                    case_events.c.time,
                    case_events.c.actor,
                    case_events.c.data,
                )
                .where(case_events.c.case_id == case_id)
                .order_by(case_events.c.version)
            ).mappings()
            timeline = [dict(e) for e in events]
            _name_actors(conn, timeline)
        case = case_out(row)
        case["reports"] = found
        case["timeline"] = timeline
        return case

    def get_report(self, report_id: str, include_personal: bool) -> dict[str, Any] | None:
        """The report with its ``case_id`` and that case's state (``case_state``)."""
        query = (
            select(reports, cases.c.state.label("case_state"))
            .outerjoin(cases, cases.c.id == reports.c.case_id)
            .where(reports.c.id == report_id)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            return None
        report = _report(row, include_personal)
        report["case_state"] = row["case_state"]
        return report

    def get_case_brief(self, case_id: str) -> dict[str, Any] | None:
        """The case row alone (no reports, no timeline): for scope checks."""
        with self.engine.connect() as conn:
            row = conn.execute(select(cases).where(cases.c.id == case_id)).mappings().first()
        return case_out(row) if row is not None else None

    def inbox(
        self,
        recipients: Sequence[str],
        *,
        reports_by: str | None = None,
        unread_only: bool = False,
        limit: int = 50,
    ) -> list[dict[str, Any]]:
        """Inbox messages (``sinks.outbox``) to any of ``recipients`` and, with
        ``reports_by``, to the reporters of the reports that submitter sent
        (``reporter:<report id>``), newest first."""
        limit = max(0, min(limit, MAX_LIMIT))
        query = select(inbox).where(_inbox_of(recipients, reports_by))
        if unread_only:
            query = query.where(inbox.c.read_at.is_(None))
        query = query.order_by(inbox.c.time.desc(), inbox.c.notification_id).limit(limit)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def orders(
        self, *, state: str | None = None, department: str | None = None, limit: int = 200
    ) -> list[dict[str, Any]]:
        """Supervision orders (:func:`sinks.worklists.orders`)."""
        return worklists.orders(self.engine, state=state, department=department, limit=limit)

    def extensions(
        self, *, state: str | None = None, department: str | None = None, limit: int = 200
    ) -> list[dict[str, Any]]:
        """Extension requests (:func:`sinks.worklists.extensions`)."""
        return worklists.extensions(self.engine, state=state, department=department, limit=limit)

    def search(
        self,
        *,
        q: str | None = None,
        phone: str | None = None,
        grid_codes: Sequence[str] = (),
        department: str | None = None,
        limit: int = 50,
    ) -> list[dict[str, Any]]:
        """Cases found by id, case number, text, place or phone (:mod:`sinks.search`)."""
        return search_cases(
            self.engine,
            q=q,
            phone=phone,
            grid_codes=grid_codes,
            department=department,
            limit=limit,
        )

    def inbox_item(
        self, notification_id: str, recipients: Sequence[str], *, reports_by: str | None = None
    ) -> dict[str, Any] | None:
        """One message of the inbox :meth:`inbox` would show these recipients, or None."""
        query = select(inbox).where(
            inbox.c.notification_id == notification_id, _inbox_of(recipients, reports_by)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return dict(row) if row is not None else None

    def count_cases(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(cases)) or 0)


class BriefQueries:
    """The daily, weekly or monthly brief, built now from the projection, with the
    hotspot alerts the duty office was told of in that span (its inbox)."""

    def __init__(self, engine: Engine, recipient: str = "duty_office") -> None:
        self.engine = engine
        self.recipient = recipient

    def daily_brief(self, day: date, tz: str, names: BriefNames) -> Brief:
        start, end = day_bounds(day, tz)
        hotspots = hotspot_alerts(self.engine, start, end, self.recipient)
        return daily_brief(self.engine, day, tz, hotspots=hotspots, names=names)

    def period_brief(self, period: Period, names: BriefNames) -> Brief:
        hotspots = hotspot_alerts(self.engine, period.start, period.end, self.recipient)
        return period_brief(self.engine, period, hotspots=hotspots, names=names)


def _name_actors(conn: Connection, timeline: list[dict[str, Any]]) -> None:
    """Add ``actor_name``: the display name of the principal an actor
    (``<role>:<principal id>``) names; the actor itself stays the identity."""
    ids = {str(e["actor"]).partition(":")[2] for e in timeline if ":" in str(e["actor"])}
    names = {
        str(row.id): str(row.name)
        for row in conn.execute(
            select(principals.c.id, principals.c.name).where(principals.c.id.in_(list(ids)))
        )
    }
    for entry in timeline:
        entry["actor_name"] = names.get(str(entry["actor"]).partition(":")[2])


def _inbox_of(recipients: Sequence[str], reports_by: str | None) -> ColumnElement[bool]:
    """Messages to any of ``recipients`` and, with ``reports_by``, to the reporters of
    the reports that submitter sent (``reporter:<report id>``)."""
    targets: list[ColumnElement[bool]] = [inbox.c.recipient.in_(list(recipients))]
    if reports_by is not None:
        own = select(literal("reporter:") + reports.c.id).where(
            reports.c.submitted_by == reports_by
        )
        targets.append(inbox.c.recipient.in_(own))
    return or_(*targets)


def _report(row: RowMapping, include_personal: bool) -> dict[str, Any]:
    lat, lon = row["lat"], row["lon"]
    out: dict[str, Any] = {
        "id": row["id"],
        "case_id": row["case_id"],
        "source": row["source"],
        "source_type": row["source_type"],
        "source_event_id": row["source_event_id"],
        "category": row["category"],
        "description": row["description"],
        "grid_code": row["grid_code"],
        "location": {"lat": lat, "lon": lon} if lat is not None and lon is not None else None,
        "occurred_at": row["occurred_at"],
        "received_at": row["received_at"],
        "media": row["media"],
        "external_ref": row["external_ref"],
        "submitted_by": row["submitted_by"],
        "attributes": row["attributes"],
    }
    if include_personal:
        out["reporter"] = shown_reporter(row["reporter"])
    return out
