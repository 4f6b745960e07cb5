"""The audit log: who read personal data, and when (DESIGN.md §8).

One row per audited read, written by :func:`record` in its own transaction before
the data is returned, so a read that was answered is a read that was logged.
``action`` names what was done (``search.phone``: cases found by a reporter's
phone number), ``target`` what it was done to (a masked phone number, a case
id), ``detail`` anything else worth keeping (how many cases were found). The
table is the one place such entries go; other audited actions (token and
subscription changes) are entries of the same shape.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, Index, Integer, String, Table, Text, insert, select
from sqlalchemy.orm import Mapped, mapped_column

from sinks.models import Base, JSONType

SEARCH_PHONE = "search.phone"


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    time: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String)
    role: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType)

    __table_args__ = (Index("ix_audit_log_time", "time"),)


audit_log: Table = Base.metadata.tables["audit_log"]


def mask_phone(phone: str) -> str:
    """A phone number as the log keeps it: enough to recognise, not to dial."""
    digits = phone.strip()
    return digits[:3] + "*" * max(len(digits) - 7, 0) + digits[-4:] if len(digits) > 7 else "***"


def record(
    engine: Engine,
    *,
    actor: str,
    role: str,
    action: str,
    target: str,
    detail: dict[str, Any] | None = None,
    time: datetime | None = None,
) -> None:
    """Write one audit entry (its own transaction); raises if it cannot."""
    with engine.begin() as conn:
        conn.execute(
            insert(audit_log).values(
                time=time or datetime.now(UTC),
                actor=actor,
                role=role,
                action=action,
                target=target,
                detail=detail or {},
            )
        )


def entries(engine: Engine, *, action: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The newest entries first (optionally of one ``action``)."""
    query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if action is not None:
        query = query.where(audit_log.c.action == action)
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


class AuditLog:
    """:func:`record` and :func:`entries` on one engine (the gateway's port)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(
        self, *, actor: str, role: str, action: str, target: str, detail: dict[str, Any]
    ) -> None:
        record(self.engine, actor=actor, role=role, action=action, target=target, detail=detail)

    def entries(self, *, action: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        return entries(self.engine, action=action, limit=limit)
