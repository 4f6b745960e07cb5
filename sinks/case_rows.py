"""A ``cases`` row as the API shows it (the "case out" shape of DESIGN.md §5),
and the one test of "a department holds a task of this case" — shared by the
case queue, the detail and the search.

Columns come as they are; the fields without a column of their own (the parts
of a joint case among them: ``tasks``, ``extensions``, ``orders``) come from the
stored snapshot, with a default for a snapshot written before they existed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Engine, RowMapping, false, func, literal, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB

from sinks.models import cases

# Columns of the case row, in the order of the §5 shape.
CASE_COLUMNS = (
    "id",
    "state",
    "category",
    "priority",
    "grid_code",
    "street_code",
    "community_code",
    "lead_department",
    "departments",
    "report_count",
    "respond_by",
    "resolve_by",
    "sla_state",
    "rework_count",
    "escalation_level",
    "merged_into",
    "version",
    "title",
    "source",
    "external_ref",
    "opened_at",
    "updated_at",
    "closed_at",
    "dispatched_at",
    "due_by",
    "deferrals",
)
# Fields taken from the stored snapshot JSON (no columns of their own), with the
# value a snapshot written before the field existed stands for.
SNAPSHOT_DEFAULTS: dict[str, Any] = {
    "location": None,
    "priority_reasons": [],
    "routing_reasons": [],
    "grid_codes": [],
    "resolution": None,
    "satisfaction": None,
    "tasks": [],
    "extensions": [],
    "orders": [],
    "verify_by": None,
    "deferred_at": None,
}


LIKE_ESCAPE = "\\"


def like_literal(text: str) -> str:
    """``text`` with LIKE wildcards escaped (escape character ``\\``)."""
    return (
        text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        .replace("%", LIKE_ESCAPE + "%")
        .replace("_", LIKE_ESCAPE + "_")
    )


def case_out(row: RowMapping) -> dict[str, Any]:
    out = {name: row[name] for name in CASE_COLUMNS}
    snapshot = row["snapshot"] or {}
    for name, default in SNAPSHOT_DEFAULTS.items():
        out[name] = snapshot.get(name, default)
    return out


def has_department(engine: Engine, department: str) -> ColumnElement[bool]:
    """The case lists ``department`` among its departments (those holding a live
    or finished task): JSONB containment on PostgreSQL, ``json_each`` on SQLite."""
    if engine.dialect.name == "postgresql":
        return type_coerce(cases.c.departments, JSONB).contains([department])
    if engine.dialect.name == "sqlite":
        each = func.json_each(cases.c.departments).table_valued("value")
        return select(literal(1)).select_from(each).where(each.c.value == department).exists()
    return false()
