"""Alerts (``gridhub.alerts``, keyed by grid code) and notifications
(``gridhub.notifications``, keyed by recipient): what is reported up and who is told."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.cases import Priority

ALERT_TYPE_PREFIX = "org.gridhub.alert."
NOTIFICATION_TYPE = "org.gridhub.notification"


class AlertKind(StrEnum):
    P1_CASE = "p1_case"
    HOTSPOT = "hotspot"
    SLA_WARNING = "sla_warning"
    SLA_OVERDUE = "sla_overdue"
    ESCALATION = "escalation"
    # The other supervised deadlines (DESIGN.md §3): a task not accepted in time
    # (签收时限), a co-department's task overdue, a resolved case not verified in
    # time, a supervision order (督办单) not answered in time.
    RESPOND_OVERDUE = "respond_overdue"
    TASK_OVERDUE = "task_overdue"
    VERIFY_OVERDUE = "verify_overdue"
    ORDER_OVERDUE = "order_overdue"


class Alert(BaseModel):
    """One thing the duty office must see now. ``id`` is deterministic (derived
    from what raised it), so a replay raises the same alert, not a second one."""

    model_config = ConfigDict(frozen=True)

    id: str
    kind: AlertKind
    time: datetime
    grid_code: str
    category: str | None = None
    case_id: str | None = None
    priority: Priority | None = None
    title: str
    detail: dict[str, Any] = Field(default_factory=dict)


class Notification(BaseModel):
    """One message to one recipient. ``recipient`` is ``duty_office``, ``leaders``,
    ``department:<code>``, ``reporter:<report id>`` or ``webhook:<subscription>``;
    ``id`` is deterministic so the sender can drop repeats."""

    model_config = ConfigDict(frozen=True)

    id: str
    recipient: str
    channel: Literal["webhook", "sms", "app"] = "webhook"
    time: datetime
    case_id: str | None = None
    event_type: str
    subject: str
    body: str = ""
    data: dict[str, Any] = Field(default_factory=dict)
