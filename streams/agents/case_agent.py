"""Aggregate, analyse, assign, resolve and report: the one writer per case.

Consumes normalised reports and case commands — both keyed by community code,
so a case's state and everything that changes it share one partition. The
decisions are pure (``streams.logic``: casework, commands, hotspots, reportup);
this module owns the batch lifecycle and its outputs, ``streams.casememory``
what the agent holds.

Lifecycle of a batch (what makes a SIGKILL harmless):

1. take up to ``case_batch`` inputs, un-acked, and decode each once;
2. where cases of the partition have left memory, ask the archive (the
   projection) about the batch's reports and cases not in memory;
3. decide each input in order over a staged view of memory (reads see the
   batch's own writes; writes are held back); count every report new to its
   case for hotspots; derive what each case event reports up (P1 and SLA
   alerts, notifications of the duty office, departments, source systems in
   their own status codes, reporters — the reporters' feedback links and the
   duty office's 回访不满意 items are derived from the feed by the notification
   stage, ``streams.agents.webhook_agent``);
4. send every output straight through the Kafka client and write the batch's
   case events to the database projection in one transaction, and wait until
   the broker and the database have both;
5. only then hand the staged state to memory, which writes it to its changelog
   before the next offset commit;
6. ack the inputs.

A crash before 5 leaves the state as it was, so reprocessing yields the same
events again (identical ids and versions: the projection's upserts and every
consumer deduplicate). A crash after some state reached the changelog leaves
those case records ahead of the offsets: the case record is the source of
truth for "this report / command was already applied", so those inputs are
skipped and nothing is doubled.

A supervision timer turns due SLA marks into ``supervise`` commands (the change
itself is then made here, like every other change) and lets closed cases leave
memory and nearby entries expire.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import faust
from pydantic import ValidationError

from routing.hotspots import HotspotRule
from schemas import trace
from schemas.alerts import Alert, Notification
from schemas.cases import (
    CaseCommand,
    CaseEvent,
    FollowReport,
    JoinNearby,
    Priority,
    SuperviseTick,
)
from schemas.reports import Report
from sinks.ports import CaseArchive
from streams.batching import ack_all, event_batches
from streams.casememory import CaseMemory, StagedCaseStore, reference_entry
from streams.codecs import (
    HOTSPOT_SOURCE,
    dead_letter_record,
    decode_report,
    encode_alert,
    encode_case_event,
    encode_notification,
)
from streams.config import StreamConfig, StreamDeps
from streams.logic.casestore import CaseRecord
from streams.logic.casework import CaseWork
from streams.logic.commands import handle_command
from streams.logic.hotspots import count_report, state_key
from streams.logic.reportup import alert_notifications, report_up
from streams.logic.supervision import DueIndex
from streams.metrics import StageMeter
from streams.projection import write_with_retry
from streams.sending import KafkaSender, Output, Sender
from streams.tables import pinned_table, state_table
from streams.topics import StageTopics

log = logging.getLogger(__name__)

AGENT_NAME = "gridhub.cases"


class CaseTables:
    """What the case agent keeps: its memory over the ``cases`` table, and the
    global CAP reference index (every worker holds all of it)."""

    def __init__(self, app: faust.App, config: StreamConfig) -> None:
        table = state_table(app, "cases", config.partitions)
        self.memory = CaseMemory(table, config.merge_window, config.closed_retention)
        # CAP alert -> its case and the case's grid, on every worker: an Update or
        # Cancel may arrive on another community's partition than the alert it
        # refers to, and one with no area is placed by intake where its alert is.
        self.references = pinned_table(app, "reference-index", config.partitions, global_=True)
        # Live cases near a community line, on every worker: a report across the
        # line finds them and is forwarded to their own writer (cell -> [[id, lat, lon]]).
        self.borders = pinned_table(app, "border-index", config.partitions, global_=True)

        async def recovered() -> None:
            self.memory.rebuild()

        table.on_recover(recovered)

    def reference_place(self, key: str) -> str | None:
        """The grid of the case holding a CAP fold key, as far as this worker's copy
        of the global index knows (intake's lookup for reference-only messages)."""
        return reference_entry(self.references.get(key))[1]


@dataclass
class _Input:
    message: Any
    report: Report | None = None
    command: CaseCommand | None = None
    error: str | None = None


@dataclass
class _Batch:
    """What one batch produces."""

    outputs: list[Output] = field(default_factory=list)
    events: list[CaseEvent] = field(default_factory=list)


def _decode(message: Any, commands_topic: str) -> _Input:
    raw = message.value or b""
    if message.topic == commands_topic:
        try:
            return _Input(message, command=CaseCommand.model_validate_json(raw))
        except ValidationError as exc:
            return _Input(message, error=f"command: {exc.errors()[0]['msg']}")
    try:
        return _Input(message, report=decode_report(raw))
    except ValueError as exc:
        return _Input(message, error=f"report: {exc}")


def register(
    app: faust.App,
    topics: StageTopics,
    config: StreamConfig,
    deps: StreamDeps,
    tables: CaseTables | None = None,
    *,
    sender: Sender | None = None,
    hotspot_rule: HotspotRule | None = None,
) -> CaseTables:
    """Attach the case agent and its timers; returns its tables (made here unless
    given: ``register_agents`` makes them first, for intake's lookup). Outputs go
    through ``sender`` (default: the Kafka client itself); hotspots are counted
    by ``hotspot_rule`` (default: the district's, ``hotspots.yaml``)."""
    tables = tables if tables is not None else CaseTables(app, config)
    memory = tables.memory
    out = sender if sender is not None else KafkaSender(app, topics.by_name())
    archive: CaseArchive | None = deps.archive
    inputs = app.topic(
        topics.reports.get_topic_name(),
        topics.case_commands.get_topic_name(),
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )
    names = _Names(topics)
    meter = StageMeter(deps.metrics, "case")
    district = deps.district  # taken in place by a live load: read at each use
    hooks = getattr(app, "before_commit", None)
    if hooks is not None:
        hooks.append(memory.flush)

    def category_name(code: str) -> str:
        category = district.taxonomy.get(code)
        return category.name_zh if category is not None else code

    def source_status(source: str, state: str) -> dict[str, str]:
        return district.statuses.status(source, state).as_json()

    def dead_letter(batch: _Batch, message: Any, reason: str, stage: str) -> None:
        log.warning("dead-letter %s/%s: %s", message.partition, message.offset, reason)
        meter.dead_lettered(message.topic)
        value, headers = dead_letter_record(message, reason, stage)
        batch.outputs.append(Output(names.dlq, message.key, value, headers))

    def command_output(batch: _Batch, command: CaseCommand) -> None:
        value = command.model_dump_json().encode()
        batch.outputs.append(Output(names.commands, command.partition_key, value))

    def on_report(
        batch: _Batch, work: CaseWork, staged: StagedCaseStore, report: Report, message: Any
    ) -> None:
        trace.bind_report(report)
        outcome = work.on_report(report)
        batch.events += outcome.events
        if outcome.dead_letter:
            dead_letter(batch, message, outcome.dead_letter, "case")
        if outcome.forward_to:
            command_output(
                batch,
                CaseCommand(
                    command_id=f"follow:{report.id}",
                    case_id=outcome.forward_to,
                    actor=f"source:{report.source}",
                    role="system",
                    time=report.received_at,
                    body=FollowReport(report=report),
                ),
            )
        if outcome.join:  # a case across the community line: its own writer decides
            command_output(
                batch,
                CaseCommand(
                    command_id=f"nearby:{report.id}",
                    case_id=outcome.join,
                    actor=f"source:{report.source}",
                    role="system",
                    time=report.received_at,
                    body=JoinNearby(report=report),
                ),
            )
        if not outcome.duplicate:
            count_hotspot(batch, staged, report, message)

    def count_hotspot(batch: _Batch, staged: StagedCaseStore, report: Report, message: Any) -> None:
        key = state_key(report.grid_code, report.category)
        rule = hotspot_rule if hotspot_rule is not None else district.hotspots
        counted = count_report(staged.hotspot(key), report, int(message.offset), rule)
        if counted is None:
            return
        state, alert = counted
        staged.put_hotspot(key, state)
        if alert is not None:
            raise_alert(batch, alert, HOTSPOT_SOURCE)
            for notification in alert_notifications(alert):
                notify(batch, notification)

    def raise_alert(batch: _Batch, alert: Alert, source: str | None = None) -> None:
        value, headers = encode_alert(alert) if source is None else encode_alert(alert, source)
        batch.outputs.append(Output(names.alerts, alert.grid_code.encode(), value, headers))
        log.log(logging.WARNING if source else logging.INFO, "%s (%s)", alert.title, alert.id)

    def notify(batch: _Batch, notification: Notification) -> None:
        value, headers = encode_notification(notification)
        key = notification.recipient.encode()
        batch.outputs.append(Output(names.notifications, key, value, headers))

    def on_command(batch: _Batch, work: CaseWork, command: CaseCommand) -> None:
        trace.bind(case_id=command.case_id)
        outcome = handle_command(work, command)
        batch.events += outcome.events
        result = outcome.result.model_dump_json().encode()
        batch.outputs.append(Output(names.results, command.case_id.encode(), result))
        for follow_up in outcome.follow_ups:
            command_output(batch, follow_up)

    def report_ups(batch: _Batch, staged: StagedCaseStore) -> None:
        """Case events first, in order, then what each reports up: the priority a
        case had before each of its events is known here, exactly."""
        priorities: dict[str, Priority | None] = {}
        for change in batch.events:
            value, headers = encode_case_event(change)
            batch.outputs.append(Output(names.events, change.case_id.encode(), value, headers))
        for change in batch.events:
            case_id = change.case_id
            if change.report is not None:  # what is logged now is about this report and case
                trace.bind_report(change.report, case_id)
            else:
                trace.bind(case_id=case_id)
            if case_id not in priorities:
                before = staged.before(case_id)
                priorities[case_id] = before.case.priority if before is not None else None
            decision = report_up(
                change,
                priorities[case_id],
                category_name,
                source_status,
                report_ids=staged.report_ids(case_id),
            )
            priorities[case_id] = change.case.priority
            for alert in decision.alerts:
                raise_alert(batch, alert)
            for notification in decision.notifications:
                notify(batch, notification)

    async def archived(items: Sequence[_Input]) -> tuple[dict[str, CaseRecord], dict[str, str]]:
        """The batch's cases that left memory, from the archive: only asked where
        a partition has let cases go (and only about what memory lacks)."""
        if archive is None or not memory.evicted:
            return {}, {}
        report_ids, case_ids = [], []
        for item in items:
            if item.message.partition not in memory.evicted:
                continue
            if item.report is not None and item.report.id not in memory.reports:
                report_ids.append(item.report.id)
            elif item.command is not None and item.command.case_id not in memory.records:
                case_ids.append(item.command.case_id)
        if not report_ids and not case_ids:
            return {}, {}
        found = await asyncio.to_thread(archive.archived, report_ids, case_ids)
        records = {
            case_id: CaseRecord(
                case=case.snapshot,
                last_report_at=case.snapshot.updated_at,
                report_ids=list(case.report_ids),
            )
            for case_id, case in found.cases.items()
            if case_id not in memory.records
        }
        return records, {r: c for r, c in found.reports.items() if c in records}

    async def case_stage(stream: faust.StreamT[Any]) -> None:
        async for events in event_batches(stream, config.case_batch, config.case_batch_seconds):
            meter.start(events)
            items = [_decode(event.message, names.commands) for event in events]
            records, reports = await archived(items)
            staged = StagedCaseStore(
                memory, tables.references, records, reports, borders=tables.borders
            )
            work = CaseWork(deps.district, staged, config.merge_window)
            batch = _Batch()
            for item in items:
                staged.partition = item.message.partition
                if item.command is not None:
                    on_command(batch, work, item.command)
                elif item.report is not None:
                    on_report(batch, work, staged, item.report, item.message)
                else:
                    stage = "case-commands" if item.message.topic == names.commands else "case"
                    dead_letter(batch, item.message, item.error or "undecodable", stage)
            report_ups(batch, staged)
            # 4: on Kafka and in the database ...
            writes = [out.send(batch.outputs)]
            if batch.events:
                writes.append(write_with_retry(deps.sink, batch.events, deps.metrics))
            await asyncio.gather(*writes)
            staged.apply()  # 5: ... before the state that says it happened
            if hooks is None:  # no commit hook on this app: write the state now
                memory.flush()
            await ack_all(stream, events)
            trace.clear()
            if meter.enabled:
                meter.case_events(batch.events)
                for output in batch.outputs:
                    if output.topic != names.dlq:
                        meter.sent(output.topic)
                meter.finish(deps.clock())

    app.agent(inputs, name=AGENT_NAME)(case_stage)
    _timers(app, topics, config, deps, memory)
    return tables


class _Names:
    """Topic names of the case agent's outputs."""

    def __init__(self, topics: StageTopics) -> None:
        self.commands = topics.case_commands.get_topic_name()
        self.dlq = topics.intake_dlq.get_topic_name()
        self.events = topics.case_events.get_topic_name()
        self.results = topics.command_results.get_topic_name()
        self.alerts = topics.alerts.get_topic_name()
        self.notifications = topics.notifications.get_topic_name()


def _timers(
    app: faust.App,
    topics: StageTopics,
    config: StreamConfig,
    deps: StreamDeps,
    memory: CaseMemory,
) -> None:
    due_index = DueIndex()  # looks again only at the records that changed

    def same(record: Any) -> CaseRecord:
        held: CaseRecord = record
        return held

    async def supervision_timer() -> None:
        """Ask the owner of each case with a due SLA mark to raise it; let closed
        cases go and nearby entries expire."""
        now = deps.clock()
        due = due_index.due(memory.items(), now, same)
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
        memory.expire_near()
        if deps.archive is not None:
            memory.evict_closed(now)

    app.timer(config.supervision_seconds, name="gridhub.supervision")(supervision_timer)
