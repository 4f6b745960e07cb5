"""Initial schema: cases, case_events (timeline), reports, api_tokens.

Revision ID: 0001
Revises:
Create Date: 2025-11-26
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("category", sa.String(), nullable=False),
        sa.Column("priority", sa.String(), nullable=False),
        sa.Column("grid_code", sa.String(), nullable=False),
        sa.Column("street_code", sa.String(), nullable=False),
        sa.Column("community_code", sa.String(), nullable=False),
        sa.Column("lead_department", sa.String(), nullable=True),
        sa.Column("departments", _json(), nullable=False),
        sa.Column("report_count", sa.Integer(), nullable=False),
        sa.Column("respond_by", _time(), nullable=True),
        sa.Column("resolve_by", _time(), nullable=True),
        sa.Column("sla_state", sa.String(), nullable=False),
        sa.Column("rework_count", sa.Integer(), nullable=False),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
        sa.Column("merged_into", sa.String(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("external_ref", sa.String(), nullable=True),
        sa.Column("opened_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.Column("closed_at", _time(), nullable=True),
        sa.Column("snapshot", _json(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_cases"),
    )
    op.create_index("ix_cases_state_priority", "cases", ["state", "priority"])
    op.create_index("ix_cases_grid_code", "cases", ["grid_code"])
    op.create_index("ix_cases_lead_department", "cases", ["lead_department"])
    op.create_index("ix_cases_updated_at", "cases", ["updated_at"])

    op.create_table(
        "case_events",
        sa.Column("case_id", sa.String(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(), nullable=False),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("time", _time(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("data", _json(), nullable=False),
        sa.PrimaryKeyConstraint("case_id", "version", name="pk_case_events"),
    )

    op.create_table(
        "reports",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("case_id", sa.String(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("source_type", sa.String(), nullable=False),
        sa.Column("source_event_id", sa.String(), nullable=False),
        sa.Column("category", sa.String(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("grid_code", sa.String(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("occurred_at", _time(), nullable=False),
        sa.Column("received_at", _time(), nullable=False),
        sa.Column("media", _json(), nullable=False),
        sa.Column("reporter", _json(), nullable=True),
        sa.Column("external_ref", sa.String(), nullable=True),
        sa.Column("submitted_by", sa.String(), nullable=True),
        sa.Column("attributes", _json(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_reports"),
        sa.UniqueConstraint("source", "source_event_id", name="uq_reports_source_source_event_id"),
    )
    op.create_index("ix_reports_case_id", "reports", ["case_id"])

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("revoked_at", _time(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
    )


def downgrade() -> None:
    op.drop_table("api_tokens")
    op.drop_index("ix_reports_case_id", table_name="reports")
    op.drop_table("reports")
    op.drop_table("case_events")
    op.drop_index("ix_cases_updated_at", table_name="cases")
    op.drop_index("ix_cases_lead_department", table_name="cases")
    op.drop_index("ix_cases_grid_code", table_name="cases")
    op.drop_index("ix_cases_state_priority", table_name="cases")
    op.drop_table("cases")
