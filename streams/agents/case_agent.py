"""Aggregate + assign + resolve: the one writer per case.

Consumes normalised reports and case commands — both keyed by community code,
so a case's state and everything that changes it share one partition — and
publishes every accepted change to ``gridhub.case-events`` and every command's
answer to the command-results topic. The decisions are ``streams.logic.casework``
and ``streams.logic.commands``; this module owns the tables, the batch lifecycle
and the outputs.

Lifecycle of a batch (what makes a SIGKILL harmless):

1. take up to ``case_batch`` inputs, un-acked;
2. decide each in order over a staged view of the tables (reads see the
   batch's own writes; writes are held back);
3. send every output and wait until the producer has delivered it;
4. only then write the staged state to the tables (their changelogs), each
   write pinned to the partition of the input that caused it;
5. ack the inputs; Faust commits their offsets after flushing the changelogs.

A crash before 4 leaves the state as it was, so reprocessing yields the same
events again (identical ids and versions, which every consumer deduplicates).
A crash during or after 4 leaves some case records written: the case record is
the source of truth for "this report / command was already applied", so those
inputs are skipped and nothing is doubled.

A supervision timer turns due SLA marks into ``supervise`` commands; the change
itself is then made here, like every other change.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import faust
from pydantic import ValidationError

from schemas import trace
from schemas.cases import CaseCommand, FollowReport, JoinNearby, SuperviseTick
from streams.batching import ack_all, event_batches
from streams.codecs import dead_letter_record, encode_case_event, shared_reports
from streams.config import StreamConfig, StreamDeps
from streams.logic.casestore import CaseRecord, NearEntry
from streams.logic.casework import CaseWork
from streams.logic.commands import handle_command
from streams.logic.supervision import DueIndex
from streams.metrics import StageMeter
from streams.tables import pinned_table
from streams.topics import StageTopics

log = logging.getLogger(__name__)

_DELETE = object()


def reference_entry(value: Any) -> tuple[str | None, str | None]:
    """``(case id, grid code)`` of a ``reference-index`` value: a JSON object, or
    the bare case id written before the index kept grids (no grid known then)."""
    if isinstance(value, dict):
        case_id, grid_code = value.get("case_id"), value.get("grid_code")
        return (str(case_id) if case_id else None, str(grid_code) if grid_code else None)
    return (str(value) if value is not None else None, None)


class CaseTables:
    """The case agent's Faust tables (JSON values)."""

    def __init__(self, app: faust.App, partitions: int) -> None:
        self.cases = pinned_table(app, "cases", partitions)  # case id -> CaseRecord
        self.reports = pinned_table(app, "report-index", partitions)  # report id -> case id
        self.folds = pinned_table(app, "fold-index", partitions)  # fold key -> case id
        self.cells = pinned_table(app, "near-index", partitions)  # cell -> [[id, lat, lon]]
        # CAP alert -> its case and the case's grid, on every worker: an Update or
        # Cancel may arrive on another community's partition than the alert it
        # refers to, and one with no area is placed by intake where its alert is.
        self.references = pinned_table(app, "reference-index", partitions, global_=True)
        # Live cases near a community line, on every worker: a report across the
        # line finds them and is forwarded to their own writer (cell -> [[id, lat, lon]]).
        self.borders = pinned_table(app, "border-index", partitions, global_=True)
        # Parsed records by case id, valid while the table still holds the very
        # dict they were parsed from (a write replaces it): parsing is the
        # costliest part of a lookup and nearby cases are looked up again and again.
        self._parsed: dict[str, tuple[Any, CaseRecord]] = {}

    def parsed(self, case_id: str) -> CaseRecord | None:
        raw = self.cases.get(case_id)
        if raw is None:
            return None
        hit = self._parsed.get(case_id)
        if hit is not None and hit[0] is raw:
            return hit[1]
        record = CaseRecord.model_validate(raw)
        self._parsed[case_id] = (raw, record)
        return record

    def reference_place(self, key: str) -> str | None:
        """The grid of the case holding a CAP fold key, as far as this worker's copy
        of the global index knows (intake's lookup for reference-only messages)."""
        return reference_entry(self.references.get(key))[1]

    def store_parsed(self, record: CaseRecord) -> None:
        raw = record.model_dump(mode="json")
        self.cases[record.case.id] = raw
        self._parsed[record.case.id] = (raw, record)


class StagedCaseStore:
    """:class:`~streams.logic.casestore.CaseStore` over :class:`CaseTables` for one
    batch: reads see the batch's own writes, which are held until :meth:`apply`."""

    def __init__(self, tables: CaseTables) -> None:
        self.tables = tables
        self.partition = 0
        self._records: dict[str, CaseRecord | None] = {}
        self._writes: dict[tuple[str, str], tuple[Any, int]] = {}

    def _get(self, table: str, key: str) -> Any:
        staged = self._writes.get((table, key))
        if staged is not None:
            return None if staged[0] is _DELETE else staged[0]
        return getattr(self.tables, table).get(key)

    def _put(self, table: str, key: str, value: Any) -> None:
        self._writes[(table, key)] = (value, self.partition)

    def record(self, case_id: str) -> CaseRecord | None:
        if case_id not in self._records:
            self._records[case_id] = self.tables.parsed(case_id)
        return self._records[case_id]

    def save(self, record: CaseRecord) -> None:
        self._records[record.case.id] = record
        self._put("cases", record.case.id, record)

    def case_of_report(self, report_id: str) -> str | None:
        value = self._get("reports", report_id)
        return str(value) if value is not None else None

    def index_report(self, report_id: str, case_id: str) -> None:
        self._put("reports", report_id, case_id)

    def case_of_fold(self, key: str) -> str | None:
        value = self._get("folds", key)
        return str(value) if value is not None else None

    def set_fold(self, key: str, case_id: str | None) -> None:
        self._put("folds", key, _DELETE if case_id is None else case_id)

    def near(self, key: str) -> list[NearEntry]:
        return [
            NearEntry(str(c), float(lat), float(lon))
            for c, lat, lon in self._get("cells", key) or []
        ]

    def set_near(self, key: str, entries: list[NearEntry]) -> None:
        value = [[e.case_id, e.lat, e.lon] for e in entries] if entries else _DELETE
        self._put("cells", key, value)

    def border(self, key: str) -> list[NearEntry]:
        return [
            NearEntry(str(c), float(lat), float(lon))
            for c, lat, lon in self._get("borders", key) or []
        ]

    def set_border(self, key: str, entries: list[NearEntry]) -> None:
        value = [[e.case_id, e.lat, e.lon] for e in entries] if entries else _DELETE
        self._put("borders", key, value)

    def case_of_reference(self, key: str) -> str | None:
        return reference_entry(self._get("references", key))[0]

    def publish_reference(self, key: str, case_id: str, grid_code: str) -> None:
        self._put("references", key, {"case_id": case_id, "grid_code": grid_code})

    def apply(self) -> int:
        """Write the staged state to the tables; returns the number of writes."""
        for (name, key), (value, partition) in self._writes.items():
            table = getattr(self.tables, name)
            table.pinned = partition
            try:
                if value is _DELETE:
                    if key in table:
                        del table[key]
                elif isinstance(value, CaseRecord):
                    self.tables.store_parsed(value)
                else:
                    table[key] = value
            finally:
                table.pinned = None
        count = len(self._writes)
        self._writes.clear()
        return count


@dataclass(frozen=True)
class Output:
    topic: faust.TopicT
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] | None = None


def register(
    app: faust.App,
    topics: StageTopics,
    config: StreamConfig,
    deps: StreamDeps,
    tables: CaseTables | None = None,
) -> CaseTables:
    """Attach the case agent and its supervision timer; returns its tables (made
    here unless given: ``register_agents`` makes them first, for intake's lookup)."""
    tables = tables if tables is not None else CaseTables(app, config.partitions)
    inputs = app.topic(
        topics.reports.get_topic_name(),
        topics.case_commands.get_topic_name(),
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )
    commands_topic = topics.case_commands.get_topic_name()
    dlq_topic = topics.intake_dlq.get_topic_name()
    meter = StageMeter(deps.metrics, "case")

    def case_events(events: list[Any]) -> list[Output]:
        meter.case_events(events)
        out = []
        for change in events:
            value, headers = encode_case_event(change)
            out.append(Output(topics.case_events, change.case_id.encode(), value, headers))
        return out

    def dead_letter(message: Any, reason: str, stage: str) -> Output:
        log.warning("dead-letter %s/%s: %s", message.partition, message.offset, reason)
        meter.dead_lettered(message.topic)
        value, headers = dead_letter_record(message, reason, stage)
        return Output(topics.intake_dlq, message.key, value, headers)

    def command_output(command: CaseCommand) -> Output:
        value = command.model_dump_json().encode()
        return Output(topics.case_commands, command.partition_key, value)

    def on_report(work: CaseWork, message: Any) -> list[Output]:
        try:
            report = shared_reports.decode(message.value or b"")
        except ValueError as exc:
            return [dead_letter(message, f"report: {exc}", "case")]
        trace.bind_report(report)
        outcome = work.on_report(report)
        out = case_events(outcome.events)
        if outcome.dead_letter:
            out.append(dead_letter(message, outcome.dead_letter, "case"))
        if outcome.forward_to:
            follow = CaseCommand(
                command_id=f"follow:{report.id}",
                case_id=outcome.forward_to,
                actor=f"source:{report.source}",
                role="system",
                time=report.received_at,
                body=FollowReport(report=report),
            )
            out.append(command_output(follow))
        if outcome.join:  # a case across the community line: its own writer decides
            join = CaseCommand(
                command_id=f"nearby:{report.id}",
                case_id=outcome.join,
                actor=f"source:{report.source}",
                role="system",
                time=report.received_at,
                body=JoinNearby(report=report),
            )
            out.append(command_output(join))
        return out

    def on_command(work: CaseWork, message: Any) -> list[Output]:
        try:
            command = CaseCommand.model_validate_json(message.value or b"")
        except ValidationError as exc:
            return [dead_letter(message, f"command: {exc.errors()[0]['msg']}", "case-commands")]
        trace.bind(case_id=command.case_id)
        outcome = handle_command(work, command)
        out = case_events(outcome.events)
        result = outcome.result.model_dump_json().encode()
        out.append(Output(topics.command_results, command.case_id.encode(), result))
        out.extend(command_output(follow_up) for follow_up in outcome.follow_ups)
        return out

    async def case_stage(stream: faust.StreamT[Any]) -> None:
        async for batch in event_batches(stream, config.case_batch, config.case_batch_seconds):
            meter.start(batch)
            staged = StagedCaseStore(tables)
            work = CaseWork(deps.district, staged, config.merge_window)
            outputs: list[Output] = []
            for event in batch:
                message = event.message
                staged.partition = message.partition
                if message.topic == commands_topic:
                    outputs += on_command(work, message)
                else:
                    outputs += on_report(work, message)
            for out in outputs:
                await out.topic.send(key=out.key, value=out.value, headers=out.headers)
            await app.producer.flush()  # 3: the output is on Kafka ...
            staged.apply()  # 4: ... before the state that says it happened
            await ack_all(stream, batch)
            trace.clear()
            if meter.enabled:
                for out in outputs:
                    name = out.topic.get_topic_name()
                    if name != dlq_topic:
                        meter.sent(name)
                meter.finish(deps.clock())

    app.agent(inputs, name="gridhub.cases")(case_stage)

    due_index = DueIndex()  # parses only the records that changed or have a mark due

    async def supervision_timer() -> None:
        """Ask the owner of each case with a due SLA mark to raise it."""
        now = deps.clock()
        due = due_index.due(list(tables.cases.items()), now, CaseRecord.model_validate)
        for case_id, record, marks in due:
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
    return tables
