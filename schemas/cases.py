"""Cases: states, commands, events and the public case shape (DESIGN.md §3, §5)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.duty import Extension, Order, OrderLevel, Task, TaskRole, TaskState, order_level
from schemas.reports import MAX_MEDIA, GeoPoint, MediaId, Report


class CaseState(StrEnum):
    OPEN = "open"
    DISPATCHED = "dispatched"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REJECTED = "rejected"
    MERGED = "merged"


LIVE_STATES = frozenset(
    {CaseState.OPEN, CaseState.DISPATCHED, CaseState.IN_PROGRESS, CaseState.RESOLVED}
)
TERMINAL_STATES = frozenset({CaseState.REJECTED, CaseState.MERGED})


class Priority(StrEnum):
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"


class SlaState(StrEnum):
    ON_TRACK = "on_track"
    WARNING = "warning"
    OVERDUE = "overdue"


class Action(StrEnum):
    """Commands, imperative (DESIGN.md §3). ``open`` and ``attach_report`` come from the stream."""

    OPEN = "open"
    ATTACH_REPORT = "attach_report"
    DISPATCH = "dispatch"
    REJECT = "reject"
    MERGE = "merge"
    ACCEPT = "accept"
    RETURN = "return"
    RESOLVE = "resolve"
    VERIFY = "verify"
    REOPEN = "reopen"
    ESCALATE = "escalate"
    COMMENT = "comment"
    REPRIORITISE = "reprioritise"
    RATE = "rate"
    # The duty office's hands, and a department's answers to them.
    REASSIGN = "reassign"
    ADD_DEPARTMENT = "add_department"
    REMOVE_DEPARTMENT = "remove_department"
    RELEASE_TASK = "release_task"
    REQUEST_EXTENSION = "request_extension"
    DECIDE_EXTENSION = "decide_extension"
    DEFER = "defer"
    RESUME = "resume"
    ORDER = "order"
    REPLY = "reply"


class CaseEventType(StrEnum):
    """Facts, past tense; the CloudEvents type is ``org.gridhub.case.<value>``."""

    OPENED = "opened"
    REPORT_ATTACHED = "report_attached"
    DISPATCHED = "dispatched"
    ACCEPTED = "accepted"
    RETURNED = "returned"
    RESOLVED = "resolved"
    VERIFIED = "verified"
    REWORKED = "reworked"
    CLOSED = "closed"
    REJECTED = "rejected"
    MERGED = "merged"
    ESCALATED = "escalated"
    COMMENTED = "commented"
    RATED = "rated"
    REPRIORITISED = "reprioritised"
    SUPERVISED = "supervised"  # 督办: a supervised deadline reached (``data.mark`` says which)
    REASSIGNED = "reassigned"
    TASK_CHANGED = "task_changed"  # a co-department's task, or the team, changed
    EXTENSION_REQUESTED = "extension_requested"
    EXTENSION_DECIDED = "extension_decided"
    DEFERRED = "deferred"
    RESUMED = "resumed"
    ORDER_ISSUED = "order_issued"
    ORDER_REPLIED = "order_replied"


class CaseSnapshot(BaseModel):
    """The case as the API shows it (names fixed by DESIGN.md §5), after one event."""

    model_config = ConfigDict(frozen=True)

    id: str
    state: CaseState
    category: str
    priority: Priority
    grid_code: str
    street_code: str
    community_code: str
    lead_department: str | None = None
    departments: list[str] = Field(default_factory=list)
    report_count: int = Field(default=1, ge=1)
    respond_by: datetime | None = None
    resolve_by: datetime | None = None
    sla_state: SlaState = SlaState.ON_TRACK
    rework_count: int = 0
    escalation_level: int = 0
    merged_into: str | None = None
    version: int = Field(ge=1)
    title: str = ""
    location: GeoPoint | None = None
    source: str = ""
    external_ref: str | None = None
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None = None
    priority_reasons: list[str] = Field(default_factory=list)
    routing_reasons: list[str] = Field(default_factory=list)
    excluded_departments: list[str] = Field(default_factory=list)
    grid_codes: list[str] = Field(
        default_factory=list, description="every grid the case covers (CAP areas)"
    )
    satisfaction: int | None = Field(default=None, ge=1, le=5)
    resolution: dict[str, Any] | None = Field(
        default=None, description="the department's evidence: note and media"
    )
    tasks: list[Task] = Field(
        default_factory=list, description="each department's part (联合执法), in order given"
    )
    extensions: list[Extension] = Field(default_factory=list, description="延期申请")
    orders: list[Order] = Field(default_factory=list, description="督办单")
    dispatched_at: datetime | None = Field(
        default=None, description="the first dispatch: the SLA clock runs from here"
    )
    due_by: datetime | None = Field(
        default=None,
        description=(
            "the deadline assessment measures against: the first resolve deadline plus "
            "approved extensions and deferred time (rework does not move it)"
        ),
    )
    verify_by: datetime | None = Field(
        default=None, description="a resolved case's verification deadline"
    )
    deferred_at: datetime | None = Field(
        default=None, description="缓办 since (SLA paused); None when not deferred"
    )
    deferrals: int = Field(default=0, ge=0, description="times deferred (a 缓办 case when > 0)")

    def current_tasks(self) -> list[Task]:
        """The case's tasks; for a case dispatched before tasks were kept, the ones
        its departments imply (the lead's, then each co-department's)."""
        if self.tasks:
            return list(self.tasks)
        return legacy_tasks(
            self.state,
            self.lead_department,
            tuple(self.departments),
            self.updated_at,
            self.respond_by,
            self.resolve_by,
        )


def legacy_tasks(
    state: CaseState,
    lead: str | None,
    departments: tuple[str, ...],
    since: datetime | None = None,
    respond_by: datetime | None = None,
    resolve_by: datetime | None = None,
) -> list[Task]:
    """The tasks a case without a task list implies: the lead's in the case's own
    state, every other listed department's dispatched. None before dispatch."""
    if not lead or state not in (CaseState.DISPATCHED, CaseState.IN_PROGRESS, CaseState.RESOLVED):
        return []
    when = since or datetime.min.replace(tzinfo=UTC)
    lead_state = {
        CaseState.DISPATCHED: TaskState.DISPATCHED,
        CaseState.IN_PROGRESS: TaskState.IN_PROGRESS,
    }.get(state, TaskState.DONE)
    tasks = [
        Task(
            no=1,
            department=lead,
            role=TaskRole.LEAD,
            state=lead_state,
            dispatched_at=when,
            respond_by=respond_by,
            resolve_by=resolve_by,
        )
    ]
    for code in departments:
        if code != lead:
            tasks.append(
                Task(
                    no=len(tasks) + 1,
                    department=code,
                    role=TaskRole.CO,
                    dispatched_at=when,
                    respond_by=respond_by,
                    resolve_by=resolve_by,
                )
            )
    return tasks


class CaseEvent(BaseModel):
    """The data of an outbound ``org.gridhub.case.*`` CloudEvent on ``gridhub.case-events``.

    Each event carries the case snapshot after it, so the database projection is
    an idempotent upsert of the highest version, and the timeline an insert of
    ``(case_id, version)`` that ignores repeats. The snapshot does not list the
    case's reports (an event would grow with every report): ``opened`` and
    ``report_attached`` carry the report they take, its id and the new count
    in ``data``, and the projection's ``reports`` rows know their case."""

    model_config = ConfigDict(frozen=True)

    case_id: str
    version: int = Field(ge=1)
    type: CaseEventType
    time: datetime
    actor: str
    data: dict[str, Any] = Field(default_factory=dict)
    case: CaseSnapshot
    report: Report | None = None

    @property
    def event_id(self) -> str:
        return f"{self.case_id}:{self.version}"


class CaseAction(BaseModel):
    """The body of ``POST /api/v1/cases/{id}/actions`` (DESIGN.md §5 action in)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    action: Action
    department: str | None = Field(default=None, max_length=64)
    reason: str | None = Field(default=None, max_length=1000)
    into: str | None = Field(default=None, max_length=64)
    note: str | None = Field(default=None, max_length=2000)
    media: list[MediaId] = Field(default_factory=list, max_length=MAX_MEDIA)
    passed: bool | None = None
    priority: Priority | None = None
    score: int | None = Field(default=None, ge=1, le=5)
    co_departments: list[str] = Field(
        default_factory=list, max_length=16, description="dispatch: co-departments (协办)"
    )
    task: str | None = Field(
        default=None,
        max_length=64,
        description="reassign: the department whose task moves (default: the lead's)",
    )
    restart_clock: bool = Field(
        default=False, description="reassign: the SLA clock starts again (default: it runs on)"
    )
    until: datetime | None = Field(default=None, description="request_extension: the new date")
    approved: bool | None = Field(default=None, description="decide_extension")
    extension: str | None = Field(
        default=None, max_length=16, description="decide_extension: x<n> (default: oldest pending)"
    )
    level: OrderLevel | None = Field(default=None, description="order: 一般 / 重点 / 挂牌")
    reply_by: datetime | None = Field(default=None, description="order: the reply deadline")
    text: str | None = Field(default=None, max_length=2000, description="order, reply")
    order: str | None = Field(default=None, max_length=16, description="reply: o<n>")

    _level = field_validator("level", mode="before")(order_level)

    @model_validator(mode="after")
    def _required_fields(self) -> CaseAction:
        needs: dict[Action, tuple[str, ...]] = {
            Action.REJECT: ("reason",),
            Action.RETURN: ("reason",),
            Action.MERGE: ("into",),
            Action.VERIFY: ("passed",),
            Action.REPRIORITISE: ("priority",),
            Action.RATE: ("score",),
            Action.COMMENT: ("note",),
            Action.REASSIGN: ("department", "reason"),
            Action.ADD_DEPARTMENT: ("department",),
            Action.REMOVE_DEPARTMENT: ("department",),
            Action.RELEASE_TASK: ("department",),
            Action.REQUEST_EXTENSION: ("until", "reason"),
            Action.DECIDE_EXTENSION: ("approved",),
            Action.DEFER: ("reason",),
            Action.ORDER: ("level", "reply_by", "text"),
            Action.REPLY: ("order", "text"),
        }
        missing = [f for f in needs.get(self.action, ()) if getattr(self, f) is None]
        if self.action is Action.VERIFY and self.passed is False and not self.reason:
            missing.append("reason")
        if self.action is Action.DECIDE_EXTENSION and self.approved is False and not self.reason:
            missing.append("reason")
        for name in ("until", "reply_by"):
            moment = getattr(self, name)
            if moment is not None and moment.tzinfo is None:
                raise ValueError(f"{name} must carry a time zone (e.g. +08:00 or Z)")
        if self.action in (Action.OPEN, Action.ATTACH_REPORT):
            raise ValueError(f"action {self.action.value!r} is internal to the stream")
        if missing:
            raise ValueError(f"action {self.action.value!r} requires: {', '.join(missing)}")
        return self


class SuperviseTick(BaseModel):
    """Internal: the supervision timer asks the case agent to check the SLA marks
    of one case as of the command's ``time`` (督办)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Literal["supervise"] = "supervise"


class AbsorbMerge(BaseModel):
    """Internal: a case merged into this one hands over its reports."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Literal["absorb"] = "absorb"
    merged_from: str
    report_ids: list[str] = Field(default_factory=list)


class FollowReport(BaseModel):
    """Internal: a report that refers to this case (CAP Update/Cancel) but arrived
    on another community's partition, forwarded to the case's own writer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Literal["follow_report"] = "follow_report"
    report: Report


class JoinNearby(BaseModel):
    """Internal: a report within the merge radius of this case but across a
    community line (another partition), sent to the case's own writer to join it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Literal["join_nearby"] = "join_nearby"
    report: Report


class OpenHere(BaseModel):
    """Internal: a report the case across the community line could not take (no
    longer live, out of its window), back to its own partition to join or open a
    case there — never looking across again."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Literal["open_here"] = "open_here"
    report: Report


class CaseCommand(BaseModel):
    """A command on ``gridhub.case-commands``, keyed by the case's community code
    (the first 12 characters of the case id)."""

    model_config = ConfigDict(frozen=True)

    command_id: str = Field(min_length=1, max_length=128, description="idempotency key")
    case_id: str = Field(min_length=13, max_length=64)
    actor: str = Field(max_length=128)
    role: str = Field(max_length=32)
    scope: str | None = Field(default=None, max_length=256, description="the actor's scope")
    time: datetime
    body: CaseAction | SuperviseTick | AbsorbMerge | FollowReport | JoinNearby | OpenHere = Field(
        union_mode="left_to_right"
    )

    @property
    def partition_key(self) -> bytes:
        return self.case_id[:12].encode()


class CommandResult(BaseModel):
    """The case agent's answer to a command: applied (new version) or refused by a rule."""

    model_config = ConfigDict(frozen=True)

    command_id: str
    case_id: str
    accepted: bool
    rule: str
    state: CaseState | None = None
    version: int | None = None
    reason: str = ""
