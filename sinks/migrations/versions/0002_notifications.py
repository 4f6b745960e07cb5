"""Notification outbox: webhook deliveries (with dead letters) and the inbox.

Revision ID: 0002
Revises: 0001
Create Date: 2025-11-27
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "notification_deliveries",
        sa.Column("notification_id", sa.String(), nullable=False),
        sa.Column("recipient", sa.String(), nullable=False),
        sa.Column("url", sa.String(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("payload", _json(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("notification_id", name="pk_notification_deliveries"),
    )
    op.create_index(
        "ix_notification_deliveries_status_updated_at",
        "notification_deliveries",
        ["status", "updated_at"],
    )
    op.create_table(
        "inbox",
        sa.Column("notification_id", sa.String(), nullable=False),
        sa.Column("recipient", sa.String(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("case_id", sa.String(), nullable=True),
        sa.Column("event_type", sa.String(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("data", _json(), nullable=False),
        sa.Column("time", _time(), nullable=False),
        sa.Column("read_at", _time(), nullable=True),
        sa.PrimaryKeyConstraint("notification_id", name="pk_inbox"),
    )
    op.create_index("ix_inbox_recipient_time", "inbox", ["recipient", "time"])


def downgrade() -> None:
    op.drop_index("ix_inbox_recipient_time", table_name="inbox")
    op.drop_table("inbox")
    op.drop_index(
        "ix_notification_deliveries_status_updated_at", table_name="notification_deliveries"
    )
    op.drop_table("notification_deliveries")
