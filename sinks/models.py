"""The database schema: SQLAlchemy 2 typed models of the case projection and tokens.

The database is a projection of ``gridhub.case-events`` (DESIGN.md §3): ``cases``
holds each case at its highest version (with the full snapshot as JSON),
``case_events`` the timeline, ``reports`` every report with the case it joined,
``principals`` who may call the API (a unique id, a display name, a role and a
scope) with their hashed bearer tokens in ``api_tokens``, and ``audit_log`` who
read personal data or changed tokens and subscriptions. Schema changes go through Alembic
(``sinks/migrations``); a test keeps migrations and these models equal.

Datetimes are stored timezone-aware and always read back as aware UTC values,
SQLite included (:class:`UTCDateTime`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# JSONB on PostgreSQL (indexable, ``@>`` containment), JSON text elsewhere.
JSONType = JSON().with_variant(JSONB(), "postgresql")

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that always returns aware UTC datetimes.

    SQLite keeps no offset, so values are normalised to UTC on the way in and
    tagged UTC on the way out; PostgreSQL's ``timestamptz`` comes back in the
    session time zone and is converted to UTC. Naive input is taken as UTC (the
    projection must not stall on one sloppy timestamp)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONType}


class Case(Base):
    """One case at its highest version seen; ``snapshot`` is the full ``CaseSnapshot``."""

    __tablename__ = "cases"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    state: Mapped[str] = mapped_column(String)
    category: Mapped[str] = mapped_column(String)
    priority: Mapped[str] = mapped_column(String)
    grid_code: Mapped[str] = mapped_column(String)
    street_code: Mapped[str] = mapped_column(String)
    community_code: Mapped[str] = mapped_column(String)
    lead_department: Mapped[str | None] = mapped_column(String)
    departments: Mapped[list[str]] = mapped_column(JSONType)
    report_count: Mapped[int] = mapped_column(Integer)
    respond_by: Mapped[datetime | None]
    resolve_by: Mapped[datetime | None]
    sla_state: Mapped[str] = mapped_column(String)
    rework_count: Mapped[int] = mapped_column(Integer)
    escalation_level: Mapped[int] = mapped_column(Integer)
    merged_into: Mapped[str | None] = mapped_column(String)
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String)
    external_ref: Mapped[str | None] = mapped_column(String)
    opened_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    # Assessment's clock: the first dispatch, the deadline it measures against
    # (first deadline + approved extensions + deferred time) and deferrals (缓办).
    dispatched_at: Mapped[datetime | None]
    due_by: Mapped[datetime | None]
    deferrals: Mapped[int] = mapped_column(Integer, server_default="0")
    snapshot: Mapped[dict[str, Any]]

    __table_args__ = (
        Index("ix_cases_state_priority", "state", "priority"),
        Index("ix_cases_grid_code", "grid_code"),
        Index("ix_cases_lead_department", "lead_department"),
        Index("ix_cases_updated_at", "updated_at"),
        Index("ix_cases_due_by", "due_by"),
    )


class CaseEventRow(Base):
    """The timeline: one row per accepted case event, ``(case_id, version)`` unique."""

    __tablename__ = "case_events"

    case_id: Mapped[str] = mapped_column(String, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String)
    type: Mapped[str] = mapped_column(String)
    time: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String)
    data: Mapped[dict[str, Any]]


class ReportRow(Base):
    """A normalised report and the case it opened or joined. ``reporter`` is personal data."""

    __tablename__ = "reports"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    case_id: Mapped[str] = mapped_column(String, index=True)
    source: Mapped[str] = mapped_column(String)
    source_type: Mapped[str] = mapped_column(String)
    source_event_id: Mapped[str] = mapped_column(String)
    category: Mapped[str] = mapped_column(String)
    description: Mapped[str] = mapped_column(Text)
    grid_code: Mapped[str] = mapped_column(String)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime]
    media: Mapped[list[str]] = mapped_column(JSONType)
    reporter: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    external_ref: Mapped[str | None] = mapped_column(String)
    submitted_by: Mapped[str | None] = mapped_column(String)
    attributes: Mapped[dict[str, Any]]

    __table_args__ = (UniqueConstraint("source", "source_event_id"),)


class Principal(Base):
    """Who calls the API: everything that joins on "who" joins on ``id``, never on
    ``name`` (display names repeat). ``event_types`` and ``cap_senders`` bind a
    system principal to what it may publish (JSON lists); ``disabled_at`` ends
    every token of it."""

    __tablename__ = "principals"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String)
    role: Mapped[str] = mapped_column(String(32))
    scope: Mapped[str | None] = mapped_column(String)
    event_types: Mapped[list[str]] = mapped_column(JSONType)
    cap_senders: Mapped[list[str]] = mapped_column(JSONType)
    created_at: Mapped[datetime]
    disabled_at: Mapped[datetime | None]


class ApiToken(Base):
    """A bearer token of a principal, stored as HMAC-SHA256(secret, token) hex,
    never as plaintext. ``name``/``role``/``scope`` repeat the principal's at
    creation, for reading the table by hand; the principal's are the ones in force."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    principal_id: Mapped[str] = mapped_column(String(32), index=True)
    name: Mapped[str] = mapped_column(String)
    role: Mapped[str] = mapped_column(String(32))
    scope: Mapped[str | None] = mapped_column(String)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None] = mapped_column(index=True)


class MediaRow(Base):
    """An uploaded photo's owner: the principal that uploaded it (the file itself
    is in the gateway's media directory)."""

    __tablename__ = "media"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    principal_id: Mapped[str] = mapped_column(String(32))
    content_type: Mapped[str] = mapped_column(String(32))
    bytes: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]


class AuditEntry(Base):
    """One audited act: who (principal id and role, or ``cli:<os user>``) did what
    (``personal_data.read``, ``token.create``...) to which target, when."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    time: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String)
    actor_role: Mapped[str | None] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String)
    detail: Mapped[dict[str, Any]]


cases: Table = Base.metadata.tables["cases"]
case_events: Table = Base.metadata.tables["case_events"]
reports: Table = Base.metadata.tables["reports"]
api_tokens: Table = Base.metadata.tables["api_tokens"]
principals: Table = Base.metadata.tables["principals"]
audit_log: Table = Base.metadata.tables["audit_log"]
media: Table = Base.metadata.tables["media"]
