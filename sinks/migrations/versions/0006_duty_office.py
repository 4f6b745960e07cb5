"""The duty office's parts of a case — tasks, extensions, supervision orders — and
assessment's clock on the case row (first dispatch, due_by, deferrals). The
phone searches are audited in the one ``audit_log`` (revision 0005).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("dispatched_at", TZ, nullable=True))
        batch.add_column(sa.Column("due_by", TZ, nullable=True))
        batch.add_column(sa.Column("deferrals", sa.Integer(), nullable=False, server_default="0"))
    op.create_index("ix_cases_due_by", "cases", ["due_by"])
    op.create_table(
        "case_tasks",
        sa.Column("case_id", sa.String(), nullable=False),
        sa.Column("no", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("department", sa.String(), nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("dispatched_at", TZ, nullable=False),
        sa.Column("respond_by", TZ, nullable=True),
        sa.Column("resolve_by", TZ, nullable=True),
        sa.Column("accepted_at", TZ, nullable=True),
        sa.Column("ended_at", TZ, nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("extended", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("case_id", "no", name="pk_case_tasks"),
    )
    op.create_index("ix_case_tasks_department_state", "case_tasks", ["department", "state"])
    op.create_table(
        "case_extensions",
        sa.Column("case_id", sa.String(), nullable=False),
        sa.Column("no", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("department", sa.String(), nullable=False),
        sa.Column("task", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("until", TZ, nullable=False),
        sa.Column("previous", TZ, nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_at", TZ, nullable=False),
        sa.Column("requested_by", sa.String(), nullable=False),
        sa.Column("decided_at", TZ, nullable=True),
        sa.Column("decided_by", sa.String(), nullable=True),
        sa.Column("decision", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("case_id", "no", name="pk_case_extensions"),
    )
    op.create_index("ix_case_extensions_state", "case_extensions", ["state"])
    op.create_table(
        "case_orders",
        sa.Column("case_id", sa.String(), nullable=False),
        sa.Column("no", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("department", sa.String(), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("reply_by", TZ, nullable=False),
        sa.Column("issued_at", TZ, nullable=False),
        sa.Column("issued_by", sa.String(), nullable=False),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("replied_at", TZ, nullable=True),
        sa.Column("replied_by", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("case_id", "no", name="pk_case_orders"),
    )
    op.create_index("ix_case_orders_state_reply_by", "case_orders", ["state", "reply_by"])


def downgrade() -> None:
    op.drop_index("ix_case_orders_state_reply_by", table_name="case_orders")
    op.drop_table("case_orders")
    op.drop_index("ix_case_extensions_state", table_name="case_extensions")
    op.drop_table("case_extensions")
    op.drop_index("ix_case_tasks_department_state", table_name="case_tasks")
    op.drop_table("case_tasks")
    op.drop_index("ix_cases_due_by", table_name="cases")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("deferrals")
        batch.drop_column("due_by")
        batch.drop_column("dispatched_at")
