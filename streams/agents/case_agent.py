"""Aggregate + assign + resolve: the one writer per case.

Consumes normalised reports and case commands — both keyed by community code,
so a case's state and everything that changes it share one partition — and
publishes every accepted change to ``gridhub.case-events`` and every command's
answer to the command-results topic.

State lives in Faust tables whose changelogs follow the input partitioning, so
it moves with the partition on a rebalance. Events are handled one by one
because a table write goes to the changelog partition of the current event.
A supervision timer turns due SLA marks into ``supervise`` commands; the change
itself is then made here, like every other change.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import faust
from pydantic import ValidationError

from schemas.cases import CaseCommand, FollowReport, SuperviseTick
from streams.agents.intake_agent import dlq_headers
from streams.casestore import CaseRecord, NearEntry
from streams.casework import CaseWork
from streams.codecs import decode_report, encode_case_event
from streams.commands import handle_command
from streams.config import StreamConfig, StreamDeps
from streams.supervision import due_marks

if TYPE_CHECKING:
    from streams.app import StageTopics

log = logging.getLogger(__name__)


class TableCaseStore:
    """:class:`~streams.casestore.CaseStore` on Faust tables (JSON values)."""

    def __init__(self, app: faust.App, partitions: int) -> None:
        def table(name: str) -> Any:
            return app.Table(name, default=None, partitions=partitions, key_type=str)

        self.cases = table("cases")  # case id -> CaseRecord
        self.reports = table("report-index")  # report id -> case id
        self.folds = table("fold-index")  # fold key -> case id
        self.cells = table("near-index")  # category|h3 cell -> [[case id, lat, lon]]
        # CAP alert -> case id on every worker: an Update or Cancel may arrive
        # on another community's partition than the alert it refers to.
        self.references = app.GlobalTable(
            "reference-index", default=None, partitions=partitions, key_type=str
        )

    def record(self, case_id: str) -> CaseRecord | None:
        raw = self.cases.get(case_id)
        return CaseRecord.model_validate(raw) if raw is not None else None

    def save(self, record: CaseRecord) -> None:
        self.cases[record.case.id] = record.model_dump(mode="json")

    def case_of_report(self, report_id: str) -> str | None:
        value = self.reports.get(report_id)
        return str(value) if value is not None else None

    def index_report(self, report_id: str, case_id: str) -> None:
        self.reports[report_id] = case_id

    def case_of_fold(self, key: str) -> str | None:
        value = self.folds.get(key)
        return str(value) if value is not None else None

    def set_fold(self, key: str, case_id: str | None) -> None:
        if case_id is not None:
            self.folds[key] = case_id
        elif self.folds.get(key) is not None:
            del self.folds[key]

    def case_of_reference(self, key: str) -> str | None:
        value = self.references.get(key)
        return str(value) if value is not None else None

    def publish_reference(self, key: str, case_id: str) -> None:
        self.references[key] = case_id

    def near(self, key: str) -> list[NearEntry]:
        return [
            NearEntry(str(c), float(lat), float(lon)) for c, lat, lon in self.cells.get(key) or []
        ]

    def set_near(self, key: str, entries: list[NearEntry]) -> None:
        if entries:
            self.cells[key] = [[e.case_id, e.lat, e.lon] for e in entries]
        elif self.cells.get(key) is not None:
            del self.cells[key]


def register(app: faust.App, topics: StageTopics, config: StreamConfig, deps: StreamDeps) -> None:
    store = TableCaseStore(app, config.partitions)
    work = CaseWork(deps.district, store, config.merge_window)
    inputs = app.topic(
        topics.reports.get_topic_name(),
        topics.case_commands.get_topic_name(),
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )
    commands_topic = topics.case_commands.get_topic_name()

    async def publish(events: list[Any]) -> None:
        for change in events:
            value, headers = encode_case_event(change)
            await topics.case_events.send(key=change.case_id.encode(), value=value, headers=headers)

    async def dead_letter(message: Any, reason: str, stage: str) -> None:
        log.warning("dead-letter %s/%s: %s", message.partition, message.offset, reason)
        await topics.intake_dlq.send(
            key=message.key, value=message.value, headers=dlq_headers(message, reason, stage)
        )

    async def on_report(message: Any) -> None:
        try:
            report = decode_report(message.value or b"")
        except ValueError as exc:
            await dead_letter(message, f"report: {exc}", "case")
            return
        outcome = work.on_report(report)
        if outcome.dead_letter:
            await dead_letter(message, outcome.dead_letter, "case")
        if outcome.forward_to:
            follow = CaseCommand(
                command_id=f"follow:{report.id}",
                case_id=outcome.forward_to,
                actor=f"source:{report.source}",
                role="system",
                time=report.received_at,
                body=FollowReport(report=report),
            )
            await topics.case_commands.send(
                key=follow.partition_key, value=follow.model_dump_json().encode()
            )
        await publish(outcome.events)

    async def on_command(message: Any) -> None:
        try:
            command = CaseCommand.model_validate_json(message.value or b"")
        except ValidationError as exc:
            await dead_letter(message, f"command: {exc.errors()[0]['msg']}", "case-commands")
            return
        outcome = handle_command(work, command)
        await publish(outcome.events)
        await topics.command_results.send(
            key=command.case_id.encode(), value=outcome.result.model_dump_json().encode()
        )
        for follow_up in outcome.follow_ups:
            await topics.case_commands.send(
                key=follow_up.partition_key, value=follow_up.model_dump_json().encode()
            )

    async def case_stage(stream: faust.StreamT[Any]) -> None:
        async for event in stream.events():
            if event.message.topic == commands_topic:
                await on_command(event.message)
            else:
                await on_report(event.message)

    app.agent(inputs, name="gridhub.cases")(case_stage)

    async def supervision_timer() -> None:
        """Ask the owner of each case with a due SLA mark to raise it."""
        now = deps.clock()
        for case_id, raw in list(store.cases.items()):
            if raw is None:
                continue
            record = CaseRecord.model_validate(raw)
            marks = due_marks(record, now)
            if not marks:
                continue
            tick = CaseCommand(
                command_id=f"supervise:{case_id}:{record.case.version}:{marks[-1]}",
                case_id=case_id,
                actor="system:supervision",
                role="system",
                time=now,
                body=SuperviseTick(),
            )
            await topics.case_commands.send(
                key=tick.partition_key, value=tick.model_dump_json().encode()
            )

    app.timer(config.supervision_seconds, name="gridhub.supervision")(supervision_timer)
