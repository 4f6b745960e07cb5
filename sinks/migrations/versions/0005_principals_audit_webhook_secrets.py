"""Principals (tokens belong to one; people's tokens expire), the audit log, who
uploaded each photo, and a secret per webhook subscription (stored encrypted,
two active while rotating).

Each existing token becomes its own principal (same id, name, role and scope).
Reports submitted and inbox messages addressed by a token name that exactly one
token had are re-addressed to that principal's id; names shared by several
tokens stay as they were (they cannot be told apart). Existing webhook
subscriptions get no secret: they deliver nothing until an admin rotates one in
(``POST /api/v1/admin/webhooks/{id}/secret``).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-10
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "principals",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(), nullable=True),
        sa.Column("event_types", _json(), nullable=False),
        sa.Column("cap_senders", _json(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("disabled_at", _time(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_principals"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("time", _time(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("actor_role", sa.String(length=32), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(), nullable=True),
        sa.Column("detail", _json(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_time", "audit_log", ["time"])
    op.create_table(
        "media",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("principal_id", sa.String(length=32), nullable=False),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("bytes", sa.Integer(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_media"),
    )
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("principal_id", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("expires_at", _time(), nullable=True))
    with op.batch_alter_table("webhook_subscriptions") as batch:
        batch.add_column(sa.Column("secret", sa.Text(), nullable=True))
        batch.add_column(sa.Column("previous_secret", sa.Text(), nullable=True))
        batch.add_column(sa.Column("previous_until", _time(), nullable=True))
    _principal_per_token()
    with op.batch_alter_table("api_tokens") as batch:
        batch.alter_column("principal_id", existing_type=sa.String(length=32), nullable=False)
        batch.create_index("ix_api_tokens_principal_id", ["principal_id"])
        batch.create_index("ix_api_tokens_revoked_at", ["revoked_at"])


def _principal_per_token() -> None:
    conn = op.get_bind()
    tokens = sa.table(
        "api_tokens",
        sa.column("id", sa.String),
        sa.column("name", sa.String),
        sa.column("role", sa.String),
        sa.column("scope", sa.String),
        sa.column("created_at", _time()),
        sa.column("revoked_at", _time()),
        sa.column("principal_id", sa.String),
    )
    principals = sa.table(
        "principals",
        sa.column("id", sa.String),
        sa.column("name", sa.String),
        sa.column("role", sa.String),
        sa.column("scope", sa.String),
        sa.column("event_types", _json()),
        sa.column("cap_senders", _json()),
        sa.column("created_at", _time()),
        sa.column("disabled_at", _time()),
    )
    rows = list(conn.execute(sa.select(tokens)).mappings())
    for row in rows:
        conn.execute(
            sa.insert(principals).values(
                id=row["id"],
                name=row["name"],
                role=row["role"],
                scope=row["scope"],
                event_types=[],
                cap_senders=[],
                created_at=row["created_at"],
                disabled_at=None,
            )
        )
        conn.execute(
            sa.update(tokens).where(tokens.c.id == row["id"]).values(principal_id=row["id"])
        )
    names = Counter(row["name"] for row in rows)
    reports = sa.table("reports", sa.column("submitted_by", sa.String))
    inbox = sa.table("inbox", sa.column("recipient", sa.String))
    for row in rows:
        if names[row["name"]] != 1:
            continue
        conn.execute(
            sa.update(reports)
            .where(reports.c.submitted_by == row["name"])
            .values(submitted_by=row["id"])
        )
        if row["role"] == "grid_worker":
            conn.execute(
                sa.update(inbox)
                .where(inbox.c.recipient == f"grid_worker:{row['name']}")
                .values(recipient=f"grid_worker:{row['id']}")
            )


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_index("ix_api_tokens_revoked_at")
        batch.drop_index("ix_api_tokens_principal_id")
        batch.drop_column("expires_at")
        batch.drop_column("principal_id")
    with op.batch_alter_table("webhook_subscriptions") as batch:
        batch.drop_column("previous_until")
        batch.drop_column("previous_secret")
        batch.drop_column("secret")
    op.drop_table("media")
    op.drop_index("ix_audit_log_time", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("principals")
