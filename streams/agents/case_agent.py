"""Aggregate + assign: the one writer per case. Consumes normalised reports
(keyed by community, like case commands), opens a case for each new report id,
routes it, and publishes every change to ``gridhub.case-events``.

State lives in Faust tables whose changelogs are co-partitioned with the input,
so it moves with the partition on a rebalance. Events are handled one by one
because a table write goes to the changelog partition of the current event.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import faust

from streams.agents.intake_agent import dlq_headers
from streams.casework import open_case
from streams.codecs import decode_report, encode_case_event
from streams.config import StreamConfig, StreamDeps

if TYPE_CHECKING:
    from streams.app import StageTopics

log = logging.getLogger(__name__)


def register(app: faust.App, topics: StageTopics, config: StreamConfig, deps: StreamDeps) -> None:
    # report id -> case id: the same report twice opens nothing new.
    report_index = app.Table(
        "report-index", default=None, partitions=config.partitions, key_type=str, value_type=str
    )
    # case id -> latest snapshot (JSON); later stages read and advance it.
    cases = app.Table("cases", default=None, partitions=config.partitions, key_type=str)

    async def case_stage(stream: faust.StreamT[Any]) -> None:
        async for event in stream.events():
            message = event.message
            try:
                report = decode_report(message.value or b"")
            except ValueError as exc:
                log.error("undecodable report at %s/%s", message.partition, message.offset)
                await topics.intake_dlq.send(
                    key=message.key,
                    value=message.value,
                    headers=dlq_headers(message, f"report: {exc}", "case"),
                )
                continue
            if report_index.get(report.id) is not None:
                continue
            changes = open_case(report, deps.district)
            case_id = changes[0].case_id
            report_index[report.id] = case_id
            cases[case_id] = changes[-1].case.model_dump(mode="json")
            for change in changes:
                value, headers = encode_case_event(change)
                await topics.case_events.send(key=case_id.encode(), value=value, headers=headers)

    app.agent(topics.reports, name="gridhub.cases")(case_stage)
