"""The case sink port, and its in-memory twin for fast unit tests of stream logic.

A case sink projects ``CaseEvent``s idempotently (DESIGN.md §3, §7):

- the timeline keeps one row per ``(case_id, version)``; repeats are ignored;
- the case keeps its highest version: an event whose version is not greater
  than the stored one changes nothing (replays, out-of-order duplicates);
- every event carrying a ``report`` (``opened``, ``report_attached``) upserts
  that report with its ``case_id``. A report whose ``(source, source_event_id)``
  is already stored under another id is skipped: the first id wins.

``write()`` is all-or-nothing: it returns once the batch is durable and raises
otherwise, so the caller commits Kafka offsets only after it returns.
:class:`~sinks.writer.CaseProjectionWriter` is the database implementation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from schemas.cases import CaseEvent, CaseSnapshot, CaseState
from schemas.reports import Report


@dataclass(frozen=True)
class WriteStats:
    """What one ``write()`` did.

    ``events``: events received; ``cases``: case rows created or moved to a
    higher version; ``reports``: report rows created or re-attached to another
    case; ``timeline_inserted``: timeline rows that were new. A full replay
    gives ``cases == reports == timeline_inserted == 0``."""

    events: int = 0
    cases: int = 0
    reports: int = 0
    timeline_inserted: int = 0


class CaseSink(Protocol):
    def write(self, events: Sequence[CaseEvent]) -> WriteStats:
        """Project ``events`` in one all-or-nothing step; raise if that failed."""
        ...


@dataclass(frozen=True)
class ArchivedCase:
    """A case no longer live (closed, rejected, merged) as the projection holds
    it: its last snapshot and its reports in the order they came."""

    snapshot: CaseSnapshot
    report_ids: tuple[str, ...]


@dataclass(frozen=True)
class Archived:
    """What :meth:`CaseArchive.archived` found: the cases, and which of the
    reports asked about belong to one of them."""

    cases: dict[str, ArchivedCase] = field(default_factory=dict)
    reports: dict[str, str] = field(default_factory=dict)  # report id -> case id


class CaseArchive(Protocol):
    """The projection read back by the case agent for cases that left its memory."""

    def archived(self, report_ids: Sequence[str], case_ids: Sequence[str]) -> Archived:
        """The cases no longer live among ``case_ids`` and among the cases of
        ``report_ids``, with the reports of those that are theirs."""
        ...


_ENDED = frozenset({CaseState.CLOSED, CaseState.REJECTED, CaseState.MERGED})


@dataclass
class InMemoryCaseSink:
    """:class:`CaseSink` in dictionaries, with the database writer's semantics."""

    cases: dict[str, CaseSnapshot] = field(default_factory=dict)
    timeline: dict[tuple[str, int], CaseEvent] = field(default_factory=dict)
    reports: dict[str, Report] = field(default_factory=dict)
    report_case: dict[str, str] = field(default_factory=dict)
    writes: int = 0

    def write(self, events: Sequence[CaseEvent]) -> WriteStats:
        self.writes += 1
        timeline_inserted = 0
        changed_cases: set[str] = set()
        changed_reports: set[str] = set()
        source_keys = {(r.source, r.source_event_id): rid for rid, r in self.reports.items()}
        for event in events:
            key = (event.case_id, event.version)
            if key not in self.timeline:
                self.timeline[key] = event
                timeline_inserted += 1
            stored = self.cases.get(event.case_id)
            if stored is None or event.case.version > stored.version:
                self.cases[event.case_id] = event.case
                changed_cases.add(event.case_id)
            report = event.report
            if report is None:
                continue
            owner = source_keys.get((report.source, report.source_event_id))
            if owner is not None and owner != report.id:
                continue
            if report.id not in self.reports:
                self.reports[report.id] = report
                source_keys[(report.source, report.source_event_id)] = report.id
                changed_reports.add(report.id)
            if self.report_case.get(report.id) != event.case_id:
                self.report_case[report.id] = event.case_id
                changed_reports.add(report.id)
        return WriteStats(
            events=len(events),
            cases=len(changed_cases),
            reports=len(changed_reports),
            timeline_inserted=timeline_inserted,
        )

    def archived(self, report_ids: Sequence[str], case_ids: Sequence[str]) -> Archived:
        wanted = {c for c in case_ids if c in self.cases}
        wanted |= {self.report_case[r] for r in report_ids if r in self.report_case}
        cases = {
            case_id: ArchivedCase(
                self.cases[case_id], tuple(r.id for r in self.reports_of(case_id))
            )
            for case_id in sorted(wanted)
            if self.cases[case_id].state in _ENDED
        }
        reports = {r: self.report_case[r] for r in report_ids if self.report_case.get(r) in cases}
        return Archived(cases, reports)

    def reports_of(self, case_id: str) -> list[Report]:
        """The reports attached to ``case_id``, in received order."""
        found = [self.reports[rid] for rid, cid in self.report_case.items() if cid == case_id]
        return sorted(found, key=lambda r: (r.received_at, r.id))
