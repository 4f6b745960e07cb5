"""Dead deliveries an admin looks at and sends again (``/api/v1/admin/deliveries``):
webhook deliveries (:class:`sinks.outbox.Outbox`) and channel deliveries
(:class:`sinks.channels.ChannelOutbox`) under one face. Re-sending puts a dead
row back to pending, stale at once; the worker's next sweep sends it from its
first attempt, with the same ids, so receivers that saw it before drop it."""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import Engine

from sinks.channels import ChannelOutbox
from sinks.outbox import Outbox

Kind = Literal["webhook", "channel"]


class Redelivery:
    def __init__(self, engine: Engine) -> None:
        self.webhooks = Outbox(engine)
        self.channels = ChannelOutbox(engine)

    def list(self, kind: Kind, status: str | None, limit: int) -> list[dict[str, Any]]:
        if kind == "webhook":
            return [
                {
                    "id": r["notification_id"],
                    "recipient": r["recipient"],
                    "target": r["url"],
                    "status": r["status"],
                    "attempts": r["attempts"],
                    "last_error": r["last_error"],
                    "updated_at": r["updated_at"],
                }
                for r in self.webhooks.rows(status=status, limit=limit)
            ]
        return [
            {
                "id": r["id"],
                "recipient": (r["payload"] or {}).get("recipient"),
                "channel": r["channel"],
                "target": r["target"],
                "status": r["status"],
                "attempts": r["attempts"],
                "last_error": r["last_error"],
                "updated_at": r["updated_at"],
            }
            for r in self.channels.rows(status=status, limit=limit)
        ]

    def resend(self, kind: Kind, delivery_id: str) -> bool:
        if kind == "webhook":
            return self.webhooks.resend(delivery_id)
        return self.channels.resend(delivery_id)
