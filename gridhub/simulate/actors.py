"""Departments and grid workers of ``gridhub simulate``, answering the public case
feed the way people do: a department accepts a dispatched case or returns it (not
ours), then resolves it with a note once every co-department has done its part
(联合执法: a co-department does its part as soon as it is dispatched); a grid
worker verifies it on site, passed or failed (rework). :class:`ActionPolicy` sets
the odds and the delays.

Pure: :meth:`FieldActors.plan` turns one case event into the commands to send and
when; :func:`gridhub.simulate.run.run_simulation` reads the feed and sends them.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from gridhub.simulate.texts import corpus
from schemas.cases import (
    Action,
    CaseAction,
    CaseCommand,
    CaseEvent,
    CaseEventType,
    CaseState,
)
from schemas.duty import TaskRole
from schemas.envelope import CASE_EVENT_PREFIX, EnvelopeError, decode_kafka

_HANDLED_MEMORY = 200_000


@dataclass(frozen=True)
class ActionPolicy:
    """What departments and grid workers do with dispatched cases."""

    enabled: bool = True
    accept: float = 0.9  # a department accepts, else returns it (not ours)
    verify_pass: float = 0.85  # on-site verification passes, else rework
    delay: float = 2.0  # mean seconds before each action (uniform 0.5x-1.5x)

    def __post_init__(self) -> None:
        if not (0 <= self.accept <= 1 and 0 <= self.verify_pass <= 1):
            raise ValueError("accept and verify_pass must be between 0 and 1")
        if self.delay < 0:
            raise ValueError("delay must be >= 0")


@dataclass(frozen=True, order=True)
class Planned:
    """A command to send ``delay`` seconds after the case event that prompted it."""

    delay: float
    command: CaseCommand = field(compare=False)

    @property
    def action(self) -> CaseAction:
        body = self.command.body
        if not isinstance(body, CaseAction):  # pragma: no cover - actors send actions only
            raise TypeError(f"not a case action: {body!r}")
        return body

    @property
    def label(self) -> str:
        """The action's name; verify is split into verify_passed / verify_failed."""
        action = self.action
        if action.action is Action.VERIFY:
            return "verify_passed" if action.passed else "verify_failed"
        return action.action.value


class FieldActors:
    """Departments and grid workers reacting to the public case feed.

    Each decision is drawn from a generator seeded by ``seed``, the case id and
    the event version, so it does not depend on the order events arrive in, and
    a replayed event gets the same (idempotent) command ids."""

    def __init__(self, seed: int = 0, policy: ActionPolicy | None = None) -> None:
        self.seed = seed
        self.policy = policy or ActionPolicy()
        self._handled: set[tuple[str, int]] = set()
        self._order: deque[tuple[str, int]] = deque()

    def plan(self, event: CaseEvent) -> list[Planned]:
        """What happens next to the case after ``event``, if anything."""
        if not self.policy.enabled:
            return []
        marker = (event.case_id, event.version)
        if marker in self._handled:
            return []
        self._handled.add(marker)
        self._order.append(marker)
        if len(self._order) > _HANDLED_MEMORY:
            self._handled.discard(self._order.popleft())
        case = event.case
        rng = random.Random(f"{self.seed}:{event.case_id}:{event.version}")  # noqa: S311
        delay = self.policy.delay * rng.uniform(0.5, 1.5)
        when = event.time + timedelta(seconds=delay)
        department = case.lead_department
        planned: list[Planned] = []
        if event.type is CaseEventType.DISPATCHED:
            # 联合执法: each co-department given a task by this dispatch does its part.
            for task in case.tasks:
                if task.role is TaskRole.CO and task.version == event.version:
                    note = f"{task.department} 已完成协办（模拟）"
                    body = CaseAction(action=Action.RESOLVE, note=note)
                    planned.append(
                        Planned(delay, self._department(event, task.department, body, when))
                    )
        if (
            event.type in (CaseEventType.DISPATCHED, CaseEventType.REWORKED)
            and case.state is CaseState.DISPATCHED
            and department
        ):
            if rng.random() < self.policy.accept:
                body = CaseAction(action=Action.ACCEPT, note="已接单，安排人员前往现场")
            else:
                body = CaseAction(action=Action.RETURN, reason="非本部门职责范围，请重新派遣")
            return [Planned(delay, self._department(event, department, body, when)), *planned]
        # The lead resolves once it has accepted and no co-department's part is open.
        if (
            event.type in (CaseEventType.ACCEPTED, CaseEventType.TASK_CHANGED)
            and case.state is CaseState.IN_PROGRESS
            and department
            and not [t for t in case.tasks if t.role is TaskRole.CO and t.unfinished]
        ):
            note = corpus().resolve_notes.get(case.category, "已现场处置完毕")
            body = CaseAction(action=Action.RESOLVE, note=f"{note}（模拟）")
            return [Planned(delay, self._department(event, department, body, when))]
        if event.type is CaseEventType.RESOLVED and case.state is CaseState.RESOLVED:
            if rng.random() < self.policy.verify_pass:
                body = CaseAction(action=Action.VERIFY, passed=True, note="现场核查，问题已解决")
            else:
                body = CaseAction(
                    action=Action.VERIFY, passed=False, reason="现场核查问题仍然存在，需返工"
                )
            command = CaseCommand(
                command_id=self._command_id(event, body.action),
                case_id=event.case_id,
                actor=f"simulated-grid-worker-{case.grid_code[-6:]}",
                role="grid_worker",
                scope=case.grid_code,
                time=when,
                body=body,
            )
            return [Planned(delay, command)]
        return []

    def _department(
        self, event: CaseEvent, department: str, body: CaseAction, when: datetime
    ) -> CaseCommand:
        lead = department == event.case.lead_department
        return CaseCommand(
            command_id=self._command_id(event, body.action, None if lead else department),
            case_id=event.case_id,
            actor=f"simulated-department-{department}",
            role="department",
            scope=department,
            time=when,
            body=body,
        )

    @staticmethod
    def _command_id(event: CaseEvent, action: Action, department: str | None = None) -> str:
        who = f":{department}" if department else ""
        return f"sim:{action.value}{who}:{event.case_id}:v{event.version}"


def read_case_event(
    value: bytes | None, headers: Iterable[tuple[str, bytes]] | None
) -> CaseEvent | None:
    """The :class:`CaseEvent` in a ``gridhub.case-events`` record, or None if it is not one."""
    try:
        envelope = decode_kafka(value, headers)
    except EnvelopeError:
        return None
    if not envelope.type.startswith(CASE_EVENT_PREFIX) or not isinstance(envelope.data, dict):
        return None
    try:
        return CaseEvent.model_validate(envelope.data)
    except ValueError:
        return None
