"""Reporters' ratings (feedback links), notification channel deliveries (e-mail,
group robots, SMS) and the versioned district data loads (grids, rules, categories).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "feedback_ratings",
        sa.Column("report_id", sa.String(), nullable=False),
        sa.Column("case_id", sa.String(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("rated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("report_id", name="pk_feedback_ratings"),
    )
    op.create_index("ix_feedback_ratings_case_id", "feedback_ratings", ["case_id"])
    op.create_table(
        "channel_deliveries",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("notification_id", sa.String(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_channel_deliveries"),
    )
    op.create_index(
        "ix_channel_deliveries_status_updated_at", "channel_deliveries", ["status", "updated_at"]
    )
    op.create_table(
        "district_loads",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("summary", JSON, nullable=False),
        sa.Column("loaded_by", sa.String(), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_district_loads"),
        sa.UniqueConstraint("kind", "version", name="uq_district_loads_kind_version"),
    )


def downgrade() -> None:
    op.drop_table("district_loads")
    op.drop_index("ix_channel_deliveries_status_updated_at", table_name="channel_deliveries")
    op.drop_table("channel_deliveries")
    op.drop_index("ix_feedback_ratings_case_id", table_name="feedback_ratings")
    op.drop_table("feedback_ratings")
