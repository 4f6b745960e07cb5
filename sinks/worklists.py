"""The duty office's work lists, read from the parts' projection
(:mod:`sinks.duty_models`): supervision orders (the open ones first, with how
late each is) and extension requests (the pending ones, to approve or refuse).

Each item carries its case's state, category, title, grid and lead department,
so a list can be shown without reading every case. ``department`` limits a list
to the items addressed to (or asked by) one department.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Engine, Table, select

from sinks.duty_models import case_extensions, case_orders
from sinks.models import cases

MAX_ITEMS = 500
_CASE_FIELDS = ("state", "category", "priority", "title", "grid_code", "lead_department")


def _items(
    engine: Engine,
    table: Table,
    first: ColumnElement[Any],
    state: str | None,
    department: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    """``table``'s items in ``state`` for ``department`` (either: all), ``first``
    deciding their order (then case and number)."""
    conditions = []
    if state is not None:
        conditions.append(table.c.state == state)
    if department is not None:
        conditions.append(table.c.department == department)
    query = (
        select(table, *(cases.c[name].label(f"case_{name}") for name in _CASE_FIELDS))
        .join(cases, cases.c.id == table.c.case_id)
        .where(*conditions)
        .order_by(first, table.c.case_id, table.c.no)
        .limit(max(0, min(limit, MAX_ITEMS)))
    )
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    out = []
    for row in rows:
        item = {k: v for k, v in row.items() if not k.startswith("case_") or k == "case_id"}
        item["id"] = f"{'o' if table is case_orders else 'x'}{row['no']}"
        item["case"] = {name: row[f"case_{name}"] for name in _CASE_FIELDS}
        out.append(item)
    return out


def orders(
    engine: Engine,
    *,
    state: str | None = None,
    department: str | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """Supervision orders, soonest reply deadline first."""
    return _items(engine, case_orders, case_orders.c.reply_by, state, department, limit)


def extensions(
    engine: Engine,
    *,
    state: str | None = None,
    department: str | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """Extension requests, oldest first."""
    return _items(engine, case_extensions, case_extensions.c.requested_at, state, department, limit)
