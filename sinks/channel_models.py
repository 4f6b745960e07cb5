"""The ``channel_deliveries`` table: one row per notification × channel × address
(an e-mail to the duty office, a group-robot post to a department's group, an
SMS to a reporter's phone). Same life as a webhook delivery
(:mod:`sinks.outbox_models`): ``pending`` until sent (``delivered``) or out of
attempts / refused for good (``dead``, the dead letter an admin can re-send).
The id is derived from the notification id, channel and address, so a replayed
notification finds its row. Migration:
``sinks/migrations/versions/0004_public_feedback_channels.py``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column

from sinks.models import Base, JSONType


class ChannelDelivery(Base):
    __tablename__ = "channel_deliveries"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    notification_id: Mapped[str] = mapped_column(String)
    channel: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (Index("ix_channel_deliveries_status_updated_at", "status", "updated_at"),)


channel_deliveries: Table = Base.metadata.tables["channel_deliveries"]
