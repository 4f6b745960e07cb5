"""A case worked on by the duty office and its departments through the real case
logic (``CaseWork`` + ``handle_command`` on a ``DictCaseStore``), minute by
minute: for the command tests, and for the events the report-up, projection and
assessment tests feed on."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from routing.district import District
from schemas.cases import CaseCommand, CaseEvent, CaseEventType, CaseSnapshot
from schemas.duty import Task
from streams.logic.casestore import DictCaseStore
from streams.logic.casework import CaseWork
from streams.logic.commands import CommandOutcome, handle_command
from streams.logic.intake import normalise
from tests.support.envelopes import WHEN, report_envelope

LEAD, CO = "chengguan", "zhujian"  # illegal_construction: 城管 leads, 住建 joins
PHOTO = "0f" * 16  # a media id as the gateway hands them out (32 hex)


class Desk:
    """One case; every command one minute after the last (``minute`` may be set)."""

    def __init__(
        self, work: CaseWork, case_id: str, events: list[CaseEvent], start: datetime = WHEN
    ) -> None:
        self.work, self.case_id, self.minute, self.start = work, case_id, 0.0, start
        self.events = list(events)  # every event of the case so far, in order

    @classmethod
    def open(
        cls,
        district: District,
        category: str = "illegal_construction",
        *,
        work: CaseWork | None = None,
        at: datetime = WHEN,
        description: str = "违建",
        **report: Any,
    ) -> Desk:
        work = work or CaseWork(district, DictCaseStore(), merge_window=timedelta(hours=48))
        envelope = report_envelope(category=category, description=description, **report).model_copy(
            update={"time": at}
        )
        events = work.on_report(normalise(envelope, district, at)).events
        return cls(work, events[-1].case_id, events, at)

    @property
    def case(self) -> CaseSnapshot:
        record = self.work.store.record(self.case_id)
        assert record is not None
        return record.case

    def at(self, minute: float) -> datetime:
        return self.start + timedelta(minutes=minute)

    def send(self, role: str = "operator", scope: str | None = None, **body: Any) -> CommandOutcome:
        self.minute += 1
        outcome = handle_command(
            self.work,
            CaseCommand(
                command_id=str(uuid.uuid4()),
                case_id=self.case_id,
                actor=f"{role}:{scope or 'desk'}",
                role=role,
                scope=scope,
                time=self.at(self.minute),
                body=body,
            ),
        )
        self.events += outcome.events
        return outcome

    def dept(self, code: str, **body: Any) -> CommandOutcome:
        return self.send("department", code, **body)

    def ok(self, outcome: CommandOutcome) -> list[CaseEventType]:
        assert outcome.result.accepted, outcome.result
        return [e.type for e in outcome.events]

    def refused(self, outcome: CommandOutcome, rule: str) -> str:
        assert not outcome.result.accepted and outcome.result.rule == rule, outcome.result
        assert outcome.events == []
        return outcome.result.reason

    def task(self, code: str) -> Task:
        return [t for t in self.case.tasks if t.department == code][-1]


def joint_story(desk: Desk) -> Desk:
    """The joint case of the closing note, on an opened ``illegal_construction``
    case (城管 leads, 住建 joins): the lead accepts; 住建 returns its part and the
    duty office reassigns it to 公安, who does it; the lead asks for two more days
    and gets them; a 重点 supervision order is answered; the lead resolves and the
    grid worker's verification closes the case."""
    desk.ok(desk.dept(LEAD, action="accept", note="已签收，安排执法队"))
    desk.ok(desk.dept(CO, action="return", reason="该违建不涉及住建审批"))
    desk.ok(desk.send(action="reassign", task=CO, department="gongan", reason="需公安协助维持秩序"))
    desk.ok(desk.dept("gongan", action="accept"))
    until = desk.case.resolve_by + timedelta(days=2)
    desk.ok(desk.dept(LEAD, action="request_extension", until=until, reason="业主申请听证"))
    desk.ok(desk.send(action="decide_extension", approved=True, reason="同意延期两天"))
    reply_by = desk.at(desk.minute + 240)
    desk.ok(desk.send(action="order", level="重点", reply_by=reply_by, text="请说明拆除进度"))
    desk.ok(desk.dept(LEAD, action="reply", order="o1", text="听证已结束，明日拆除"))
    desk.ok(desk.dept("gongan", action="resolve", note="现场秩序维护完毕"))
    desk.ok(desk.dept(LEAD, action="resolve", note="违建已拆除", media=[PHOTO]))
    desk.ok(desk.send("grid_worker", "990101001001001", action="verify", passed=True, note="已拆"))
    return desk
