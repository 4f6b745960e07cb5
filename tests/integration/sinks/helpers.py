"""Read the projection back as plain, comparable data."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from sinks.models import case_events, cases, reports


def dump(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """Every row of the projection tables, in key order."""
    with engine.connect() as conn:
        return {
            "cases": [dict(r) for r in conn.execute(select(cases).order_by(cases.c.id)).mappings()],
            "case_events": [
                dict(r)
                for r in conn.execute(
                    select(case_events).order_by(case_events.c.case_id, case_events.c.version)
                ).mappings()
            ],
            "reports": [
                dict(r) for r in conn.execute(select(reports).order_by(reports.c.id)).mappings()
            ],
        }


def case_versions(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {cid: version for cid, version in conn.execute(select(cases.c.id, cases.c.version))}
