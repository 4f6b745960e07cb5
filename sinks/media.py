"""Who uploaded which photo (the ``media`` table), and which cases use one.

The gateway records the uploader of every photo it stores; a report or an
action may reference only photos its caller uploaded (or that belong to a case
the caller can see), and ``GET /api/v1/media/{id}`` shows a photo only to its
uploader or to a caller who can see a case that uses it (a report's ``media``,
or an action's ``data.media`` on the timeline).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, false, func, insert, literal, or_, select
from sqlalchemy.dialects.postgresql import JSONB

from sinks.models import case_events, cases, media, reports


class MediaIndex:
    """The ``media`` table and the cases that reference a photo."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(self, media_id: str, principal_id: str, content_type: str, size: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(media).values(
                    id=media_id,
                    principal_id=principal_id,
                    content_type=content_type,
                    bytes=size,
                    created_at=datetime.now(UTC),
                )
            )

    def owners(self, media_ids: Collection[str]) -> dict[str, str]:
        """The uploader (principal id) of each known photo among ``media_ids``."""
        if not media_ids:
            return {}
        query = select(media.c.id, media.c.principal_id).where(media.c.id.in_(list(media_ids)))
        with self.engine.connect() as conn:
            return {str(row.id): str(row.principal_id) for row in conn.execute(query)}

    def cases_using(self, media_id: str) -> list[dict[str, Any]]:
        """The case rows (state, departments, grids...) of the cases whose reports
        or timeline reference the photo."""
        in_reports = select(reports.c.case_id).where(self._contains(reports.c.media, media_id))
        in_events = select(case_events.c.case_id).where(
            self._contains(case_events.c.data, media_id, "media")
        )
        query = select(cases).where(or_(cases.c.id.in_(in_reports), cases.c.id.in_(in_events)))
        with self.engine.connect() as conn:
            return [dict(row) for row in conn.execute(query.limit(50)).mappings()]

    def _contains(self, column: Any, value: str, key: str | None = None) -> ColumnElement[bool]:
        dialect = self.engine.dialect.name
        if dialect == "postgresql":
            target = column if key is None else column[key]
            return target.cast(JSONB).contains([value])  # type: ignore[no-any-return]
        if dialect == "sqlite":
            each = (
                func.json_each(column).table_valued("value")
                if key is None
                else func.json_each(column, f"$.{key}").table_valued("value")
            )
            return select(literal(1)).select_from(each).where(each.c.value == value).exists()
        return false()
