"""The parts of a case the duty office (总值班室) works with (DESIGN.md §3, §5):
each department's **task** in a joint case (联合执法: one lead, any co-departments),
the **extensions** departments ask for (延期申请), and the **supervision orders**
the duty office issues (督办单).

They live inside the case snapshot, so the one writer of the case changes them
with everything else, and every event carries them. Each part keeps ``version``,
the case version at which it last changed (stamped by the case logic), so the
database projection of a part is an upsert of its highest version and a replay
gives the very same rows. Numbers (``no``) count from 1 per case and per kind;
ids are ``t<no>``, ``x<no>`` and ``o<no>``. No I/O.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator


class TaskRole(StrEnum):
    LEAD = "lead"  # 主办
    CO = "co"  # 协办


class TaskState(StrEnum):
    DISPATCHED = "dispatched"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    RETURNED = "returned"  # back to the duty office, which reassigns or releases it
    REASSIGNED = "reassigned"  # moved to another department (改派)
    RELEASED = "released"  # the duty office let the case go on without it


#: A task the department still owes: it holds the lead's resolve back (co tasks).
UNFINISHED_TASK_STATES = frozenset(
    {TaskState.DISPATCHED, TaskState.IN_PROGRESS, TaskState.RETURNED}
)
#: A task its department works on now.
ACTIVE_TASK_STATES = frozenset({TaskState.DISPATCHED, TaskState.IN_PROGRESS})
#: The departments whose task is in one of these see the case and find it in their queue.
VISIBLE_TASK_STATES = frozenset({TaskState.DISPATCHED, TaskState.IN_PROGRESS, TaskState.DONE})


class Task(BaseModel):
    """One department's part of a case."""

    model_config = ConfigDict(frozen=True)

    no: int = Field(ge=1)
    department: str
    role: TaskRole
    state: TaskState = TaskState.DISPATCHED
    version: int = Field(default=1, ge=1, description="case version of its last change")
    dispatched_at: datetime
    respond_by: datetime | None = None
    resolve_by: datetime | None = None
    accepted_at: datetime | None = None
    ended_at: datetime | None = Field(default=None, description="done, returned, moved, released")
    note: str | None = None
    media: list[str] = Field(default_factory=list)
    reason: str | None = Field(default=None, description="why it was returned, moved or released")
    extended: int = Field(default=0, ge=0, description="approved extensions of this task")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def id(self) -> str:
        return f"t{self.no}"

    @property
    def unfinished(self) -> bool:
        return self.state in UNFINISHED_TASK_STATES


class ExtensionState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REFUSED = "refused"


class Extension(BaseModel):
    """A department's request for more time on its task (延期申请) and the decision."""

    model_config = ConfigDict(frozen=True)

    no: int = Field(ge=1)
    department: str
    task: int = Field(ge=1, description="the task's number")
    state: ExtensionState = ExtensionState.PENDING
    version: int = Field(default=1, ge=1, description="case version of its last change")
    until: datetime
    previous: datetime | None = Field(default=None, description="the task's deadline when asked")
    reason: str
    requested_at: datetime
    requested_by: str
    decided_at: datetime | None = None
    decided_by: str | None = None
    decision: str | None = Field(default=None, description="the duty office's reason")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def id(self) -> str:
        return f"x{self.no}"


class OrderLevel(StrEnum):
    """督办单 levels; the Chinese names are accepted for them too."""

    GENERAL = "general"  # 一般
    KEY = "key"  # 重点
    LISTED = "listed"  # 挂牌 (the leaders are told too)


ORDER_LEVEL_NAMES: dict[str, OrderLevel] = {
    "一般": OrderLevel.GENERAL,
    "重点": OrderLevel.KEY,
    "挂牌": OrderLevel.LISTED,
}


def order_level(value: Any) -> Any:
    """An :class:`OrderLevel` value from its English or Chinese name."""
    return ORDER_LEVEL_NAMES.get(value, value) if isinstance(value, str) else value


class OrderState(StrEnum):
    OPEN = "open"
    ANSWERED = "answered"


class Order(BaseModel):
    """A supervision order (督办单) to one department, and its reply."""

    model_config = ConfigDict(frozen=True)

    no: int = Field(ge=1)
    department: str
    level: OrderLevel
    state: OrderState = OrderState.OPEN
    version: int = Field(default=1, ge=1, description="case version of its last change")
    text: str
    reply_by: datetime
    issued_at: datetime
    issued_by: str
    reply: str | None = None
    replied_at: datetime | None = None
    replied_by: str | None = None

    _level = field_validator("level", mode="before")(order_level)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def id(self) -> str:
        return f"o{self.no}"


def part_number(value: str | int | None, prefix: str) -> int | None:
    """``3`` from ``"o3"``, ``"3"`` or ``3`` (None when it is none of those)."""
    if value is None:
        return None
    text = str(value).strip()
    if text.startswith(prefix):
        text = text[len(prefix) :]
    return int(text) if text.isdigit() and int(text) > 0 else None
