"""Read queries behind Open311 GeoReport v2 (``/open311/v2/``): a service request is a case.

Rows are plain dicts with the case columns Open311 needs, its ``source`` and
its first report's ``description`` — which public reads never show (no free
text, :mod:`schemas.publicdata`). Nothing personal
(reporter name, phone) and no operator's words (rejection reasons) are read:
these are public reads (DESIGN.md §8), and only of the categories the caller
passes as public. Datetimes are aware UTC ``datetime`` objects.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, RowMapping, func, select

from sinks.models import cases, reports

MAX_REQUESTS = 100
_COLUMNS = (
    cases.c.id,
    cases.c.state,
    cases.c.category,
    cases.c.priority,
    cases.c.grid_code,
    cases.c.lead_department,
    cases.c.merged_into,
    cases.c.title,
    cases.c.opened_at,
    cases.c.updated_at,
    cases.c.closed_at,
    cases.c.resolve_by,
    cases.c.source,
    cases.c.snapshot,
)


class ServiceRequestQueries:
    """Cases as Open311 service requests. Each call opens its own connection."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def find(
        self,
        *,
        ids: Sequence[str] | None = None,
        categories: Collection[str] | None = None,
        states: Collection[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = MAX_REQUESTS,
        public: Collection[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Cases matching every given filter, newest ``opened_at`` first.

        ``ids`` overrides the other filters (GeoReport v2: ``service_request_id``
        "overrides all other arguments") but never ``public``, the categories that
        may be shown at all; ``start``/``end`` bound ``opened_at`` (inclusive). At
        most ``limit`` (capped at :data:`MAX_REQUESTS`) rows."""
        limit = max(0, min(limit, MAX_REQUESTS))
        conditions: list[ColumnElement[bool]] = []
        if public is not None:
            conditions.append(cases.c.category.in_(list(public)))
        if ids is not None:
            conditions.append(cases.c.id.in_(list(ids)[:MAX_REQUESTS]))
        else:
            if categories is not None:
                conditions.append(cases.c.category.in_(list(categories)))
            if states is not None:
                conditions.append(cases.c.state.in_(list(states)))
            if start is not None:
                conditions.append(cases.c.opened_at >= start)
            if end is not None:
                conditions.append(cases.c.opened_at <= end)
        query = (
            select(*_COLUMNS)
            .where(*conditions)
            .order_by(cases.c.opened_at.desc(), cases.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            rows = list(conn.execute(query).mappings())
            found = [_request(row) for row in rows]
            self._add_details(conn, found)
        return found

    def get(self, case_id: str, public: Collection[str] | None = None) -> dict[str, Any] | None:
        found = self.find(ids=[case_id], limit=1, public=public)
        return found[0] if found else None

    def case_of_report(self, report_id: str) -> str | None:
        """The case a report opened or joined (None while it is still in the pipeline)."""
        with self.engine.connect() as conn:
            value = conn.scalar(select(reports.c.case_id).where(reports.c.id == report_id))
        return str(value) if value else None

    @staticmethod
    def _add_details(conn: Any, found: list[dict[str, Any]]) -> None:
        if not found:
            return
        ids = [item["id"] for item in found]
        first = (
            select(
                reports.c.case_id,
                reports.c.description,
                func.row_number()
                .over(
                    partition_by=reports.c.case_id, order_by=(reports.c.received_at, reports.c.id)
                )
                .label("n"),
            )
            .where(reports.c.case_id.in_(ids))
            .subquery()
        )
        descriptions = {
            str(row.case_id): str(row.description)
            for row in conn.execute(
                select(first.c.case_id, first.c.description).where(first.c.n == 1)
            )
        }
        for item in found:
            item["description"] = descriptions.get(item["id"])
            item.pop("title", None)


def _request(row: RowMapping) -> dict[str, Any]:
    out = dict(row)
    snapshot = out.pop("snapshot") or {}
    out["location"] = snapshot.get("location")
    return out
