"""The projection of a case's parts (:mod:`schemas.duty`), on the same metadata as
:mod:`sinks.models`: ``case_tasks`` (each department's part of a joint case),
``case_extensions`` (延期申请 and their decisions) and ``case_orders`` (督办单 and
their replies), one row per part, keyed by ``(case_id, no)``.

Each row holds its part as of its ``version`` — the case version at which the part
last changed, stamped by the case logic — so the writer upserts the highest
version and a replay of the case-event feed builds the very same rows. They are
what assessment counts per task and what the open-orders and pending-extension
lists read. Migration: ``sinks/migrations/versions/0004_duty_office.py``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column

from sinks.models import Base


class CaseTaskRow(Base):
    """One department's task in a case (主办 ``lead`` or 协办 ``co``)."""

    __tablename__ = "case_tasks"

    case_id: Mapped[str] = mapped_column(String, primary_key=True)
    no: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    department: Mapped[str] = mapped_column(String)
    role: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(16))
    dispatched_at: Mapped[datetime]
    respond_by: Mapped[datetime | None]
    resolve_by: Mapped[datetime | None]
    accepted_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    note: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    extended: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_case_tasks_department_state", "department", "state"),)


class CaseExtensionRow(Base):
    """A request for more time on one task, and the duty office's decision."""

    __tablename__ = "case_extensions"

    case_id: Mapped[str] = mapped_column(String, primary_key=True)
    no: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    department: Mapped[str] = mapped_column(String)
    task: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    until: Mapped[datetime]
    previous: Mapped[datetime | None]
    reason: Mapped[str] = mapped_column(Text)
    requested_at: Mapped[datetime]
    requested_by: Mapped[str] = mapped_column(String)
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String)
    decision: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_case_extensions_state", "state"),)


class CaseOrderRow(Base):
    """A supervision order to one department, and its reply."""

    __tablename__ = "case_orders"

    case_id: Mapped[str] = mapped_column(String, primary_key=True)
    no: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    department: Mapped[str] = mapped_column(String)
    level: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    reply_by: Mapped[datetime]
    issued_at: Mapped[datetime]
    issued_by: Mapped[str] = mapped_column(String)
    reply: Mapped[str | None] = mapped_column(Text)
    replied_at: Mapped[datetime | None]
    replied_by: Mapped[str | None] = mapped_column(String)

    __table_args__ = (Index("ix_case_orders_state_reply_by", "state", "reply_by"),)


case_tasks: Table = Base.metadata.tables["case_tasks"]
case_extensions: Table = Base.metadata.tables["case_extensions"]
case_orders: Table = Base.metadata.tables["case_orders"]
