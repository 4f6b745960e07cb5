"""The notification outbox tables, on the same metadata as :mod:`sinks.models`.

- ``notification_deliveries``: one row per notification that has (or had) a
  webhook to go to — the durable outbox of the webhook sender. ``status`` is
  ``pending`` until the receiver answered 2xx (``delivered``) or the attempts ran
  out / the receiver refused it for good (``dead``: the dead letter, with the
  last error and the payload, for an operator to look at or re-send).
- ``inbox``: notifications on the ``app`` / ``sms`` channels, for reporters,
  departments and the duty office to read later (``read_at`` set when read).

Both are keyed by the notification id, which is deterministic, so a replayed
notification finds its row and changes nothing. Migration:
``sinks/migrations/versions/0002_notifications.py``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column

from sinks.models import Base, JSONType

STATUS_PENDING = "pending"
STATUS_DELIVERED = "delivered"
STATUS_DEAD = "dead"


class NotificationDelivery(Base):
    """Webhook delivery of one notification: where, how it went, what was sent."""

    __tablename__ = "notification_deliveries"

    notification_id: Mapped[str] = mapped_column(String, primary_key=True)
    recipient: Mapped[str] = mapped_column(String)
    url: Mapped[str] = mapped_column(String)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_notification_deliveries_status_updated_at", "status", "updated_at"),
    )


class InboxMessage(Base):
    """One notification for a recipient to read in the app (or sent as SMS)."""

    __tablename__ = "inbox"

    notification_id: Mapped[str] = mapped_column(String, primary_key=True)
    recipient: Mapped[str] = mapped_column(String)
    channel: Mapped[str] = mapped_column(String(16))
    case_id: Mapped[str | None] = mapped_column(String)
    event_type: Mapped[str] = mapped_column(String)
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    time: Mapped[datetime]
    read_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_inbox_recipient_time", "recipient", "time"),)


notification_deliveries: Table = Base.metadata.tables["notification_deliveries"]
inbox: Table = Base.metadata.tables["inbox"]
