"""Finding cases (the console's search box): by a case id prefix, a source's own
case number (``external_ref``, e.g. a 数字城管 case number), the text of the title
or of any report, the grids an address or grid name points at, and — for the
roles that may see personal data — a reporter's phone number.

Each criterion is its own indexed-or-bounded query; the union is read once and
every case says which criteria it ``matched``. Newest first. The caller decides
who may search by phone and writes the audit entry (:mod:`sinks.audit`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Engine, Select, func, or_, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB

from sinks.case_rows import LIKE_ESCAPE, case_out, has_department, like_literal
from sinks.models import cases, reports

MAX_RESULTS = 200
_PHONE_NOISE = re.compile(r"[\s\-()]")


def phone_digits(phone: str) -> str:
    """A phone number without spaces, dashes, brackets and a +86 prefix."""
    plain = _PHONE_NOISE.sub("", phone.strip())
    return plain.removeprefix("+86")


def search_cases(
    engine: Engine,
    *,
    q: str | None = None,
    phone: str | None = None,
    grid_codes: Sequence[str] = (),
    department: str | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Cases matching ``q`` (id prefix, external_ref, title or report text) or in
    one of ``grid_codes`` (what an address or grid name named), or with a report
    from ``phone``; only ``department``'s when given. Each result is
    ``{"case": {...}, "matched": [criteria]}``."""
    limit = max(0, min(limit, MAX_RESULTS))
    criteria: list[tuple[str, Select[Any]]] = []
    text = (q or "").strip()
    if text:
        pattern = f"%{like_literal(text)}%"
        criteria += [
            ("id", select(cases.c.id).where(cases.c.id.startswith(text, autoescape=True))),
            (
                "external_ref",
                select(cases.c.id).where(cases.c.external_ref.ilike(pattern, escape=LIKE_ESCAPE)),
            ),
            ("title", select(cases.c.id).where(cases.c.title.ilike(pattern, escape=LIKE_ESCAPE))),
            (
                "report",
                select(reports.c.case_id).where(
                    reports.c.description.ilike(pattern, escape=LIKE_ESCAPE)
                ),
            ),
        ]
    if grid_codes:
        criteria.append(("grid", select(cases.c.id).where(cases.c.grid_code.in_(list(grid_codes)))))
    if phone:
        criteria.append(("phone", select(reports.c.case_id).where(_phone_is(engine, phone))))
    if not criteria:
        return []
    matched: dict[str, list[str]] = {}
    with engine.connect() as conn:
        for name, query in criteria:
            for (case_id,) in conn.execute(query.limit(MAX_RESULTS)):
                matched.setdefault(str(case_id), []).append(name)
        if not matched:
            return []
        found = select(cases).where(cases.c.id.in_(list(matched)))
        if department is not None:
            found = found.where(
                or_(cases.c.lead_department == department, has_department(engine, department))
            )
        rows = conn.execute(
            found.order_by(cases.c.opened_at.desc(), cases.c.id).limit(limit)
        ).mappings()
        return [{"case": case_out(row), "matched": matched[str(row["id"])]} for row in rows]


def _phone_is(engine: Engine, phone: str) -> ColumnElement[bool]:
    stored: ColumnElement[str] = (
        type_coerce(reports.c.reporter, JSONB)["phone"].astext
        if engine.dialect.name == "postgresql"
        else reports.c.reporter["phone"].as_string()
    )
    for noise in (" ", "-", "(", ")", "+86"):
        stored = func.replace(stored, noise, "")
    return stored == phone_digits(phone)
