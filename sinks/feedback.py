"""Reporters' ratings through their feedback links (回访), one per report.

:meth:`FeedbackStore.record` inserts the rating and answers False when the report
was rated before: that is what makes a link work once for the rating, across
gateway processes. The score reaches the case as a ``rate`` command (the case
agent records ``rated``, which assessment reads); the comment stays here and on
the case's internal timeline, never in public output. Table: migration
``sinks/migrations/versions/0004_public_feedback_channels.py``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Integer, String, Table, Text, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from sinks.models import Base

MAX_COMMENT = 500


class FeedbackRating(Base):
    """The rating a reporter gave through the link of ``report_id``."""

    __tablename__ = "feedback_ratings"

    report_id: Mapped[str] = mapped_column(String, primary_key=True)
    case_id: Mapped[str] = mapped_column(String, index=True)
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    rated_at: Mapped[datetime]


feedback_ratings: Table = Base.metadata.tables["feedback_ratings"]


class FeedbackStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

    def record(
        self, report_id: str, case_id: str, score: int, comment: str | None, now: datetime
    ) -> bool:
        """Store the rating; False when this report was rated already."""
        row = {
            "report_id": report_id,
            "case_id": case_id,
            "score": score,
            "comment": (comment or None) and comment[:MAX_COMMENT],
            "rated_at": now,
        }
        stmt = self._insert(feedback_ratings).on_conflict_do_nothing(index_elements=["report_id"])
        with self.engine.begin() as conn:
            result = conn.execute(stmt.returning(feedback_ratings.c.report_id), [row])
            return bool(result.scalars().all())

    def forget(self, report_id: str) -> None:
        """Undo a rating that could not be passed on (the reporter may try again)."""
        with self.engine.begin() as conn:
            conn.execute(delete(feedback_ratings).where(feedback_ratings.c.report_id == report_id))

    def get(self, report_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = (
                conn.execute(
                    select(feedback_ratings).where(feedback_ratings.c.report_id == report_id)
                )
                .mappings()
                .first()
            )
        return dict(row) if row is not None else None
