"""Aggregate + assign: what the case agent decides when a report arrives.

Idempotency first (a report id seen before changes nothing), then the report
joins a live case — through its fold key (one sensor, one CAP alert), the CAP
alert it refers to, or a live case of its category nearby — or opens a new case,
which routing dispatches at once when a rule matches.

Every change is a versioned ``CaseEvent`` carrying the snapshot after it; event
times come from the input, never a wall clock, so reprocessing the same input
yields identical events.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from routing.district import District
from routing.geo import METRES_PER_DEGREE_LAT, distance_m, haversine_m
from schemas.cases import (
    LIVE_STATES,
    CaseCommand,
    CaseEvent,
    CaseEventType,
    CaseSnapshot,
    CaseState,
    Priority,
    SlaState,
)
from schemas.duty import TaskRole
from schemas.lifecycle import decide
from schemas.reports import Report
from streams.logic.casestore import (
    CaseRecord,
    CaseStore,
    NearEntry,
    cell_key,
    near_scope,
    ring_keys,
)
from streams.logic.parts import new_task, stamp, with_tasks

PART_FIELDS = ("tasks", "extensions", "orders")
CASE_ID_NAMESPACE = uuid.UUID("2b7e4c1e-0d6b-4b8a-8f55-93c1a8f0e6d4")
SYSTEM_ACTOR = "system:gridhub"
ROUTING_ACTOR = "system:routing"
TITLE_LENGTH = 80
ATTACHABLE = frozenset({CaseState.OPEN, CaseState.DISPATCHED, CaseState.IN_PROGRESS})


_NAMESPACE = CASE_ID_NAMESPACE.bytes


def case_id_for(report: Report) -> str:
    """Case ids carry the community code, the key of reports and case commands,
    so a case's commands land on the partition that holds its state. The digest
    is the first 12 hex digits of ``uuid5(CASE_ID_NAMESPACE, report.id)``, whose
    version and variant bits lie further on: its SHA-1 without the UUID."""
    digest = hashlib.sha1(_NAMESPACE + report.id.encode(), usedforsecurity=False).hexdigest()
    return f"{report.community_code}-{digest[:12]}"


def next_event(
    case: CaseSnapshot,
    type_: CaseEventType,
    time: datetime,
    actor: str,
    data: dict[str, Any] | None = None,
    report: Report | None = None,
    **changes: Any,
) -> CaseEvent:
    """The event for one accepted change: version + 1 and the snapshot after it;
    each task, extension or order it changed is stamped with the new version."""
    version = case.version + 1
    for name in PART_FIELDS:
        if name in changes:
            changes[name] = stamp(getattr(case, name), changes[name], version)
    after = case.model_copy(update={**changes, "version": version, "updated_at": time})
    return CaseEvent(
        case_id=case.id,
        version=after.version,
        type=type_,
        time=time,
        actor=actor,
        data=data or {},
        case=after,
        report=report,
    )


@dataclass
class ReportOutcome:
    events: list[CaseEvent] = field(default_factory=list)
    duplicate: bool = False
    dead_letter: str | None = None
    forward_to: str | None = None  # the case (on another partition) this report follows
    join: str | None = None  # the nearby case across a community line it may join


GLOBAL_REFERENCE_PREFIX = "cap:"


class CaseWork:
    """Case decisions over a :class:`CaseStore`. One instance per worker; the
    store's partitioning makes it the one writer of every case it holds."""

    def __init__(self, district: District, store: CaseStore, merge_window: timedelta) -> None:
        self.district = district
        self.store = store
        self.merge_window = merge_window
        # Commands for other writers a handler decided on (taken by handle_command).
        self.follow_ups: list[CaseCommand] = []

    # ------------------------------------------------------------- reports

    def on_report(self, report: Report, local_only: bool = False) -> ReportOutcome:
        """``local_only``: the report came back from a case across a community
        line that could not take it; it joins or opens a case here."""
        if self.already_applied(report):
            return ReportOutcome(duplicate=True)
        refers_to = [str(k) for k in report.attributes.get("refers_to", [])]
        if refers_to:
            return self._follow_references(report, refers_to)
        target = self._fold_target(report)
        across: str | None = None
        if target is None:
            target, across = self._nearby(report, local_only)
        if target is not None:
            return ReportOutcome(events=self.attach(target, report))
        if across is not None:
            return ReportOutcome(join=across)
        return ReportOutcome(events=self.open(report))

    def already_applied(self, report: Report) -> bool:
        """The case record, not the index, says whether a report was applied: after
        a crash the index may hold entries whose case records were not written —
        or miss entries whose case records were, which are written again here."""
        for case_id in (self.store.case_of_report(report.id), case_id_for(report)):
            record = self.store.record(case_id) if case_id else None
            if record is not None and report.id in record.report_ids:
                self._reindex(record, report)
                return True
        return False

    def _reindex(self, record: CaseRecord, report: Report) -> None:
        """The index entries an applied report made, restored where missing (the
        crash fell between the writes of one batch's state)."""
        case = record.case
        if self.store.case_of_report(report.id) != case.id:
            self.store.index_report(report.id, case.id)
        for key in record.fold_keys:
            if self.store.case_of_fold(key) is None:
                self.store.set_fold(key, case.id)
            if (
                key.startswith(GLOBAL_REFERENCE_PREFIX)
                and self.store.case_of_reference(key) is None
            ):
                self.store.publish_reference(key, case.id, case.grid_code)
        if case.location is None:
            return
        entry = NearEntry(case.id, case.location.lat, case.location.lon)
        for cell in record.cells:
            for key in ring_keys(cell):
                entries = self.store.near(key)
                if all(e.case_id != case.id for e in entries):
                    self.store.set_near(key, [*entries, entry])
        for cell in record.border_cells:
            entries = self.store.border(cell)
            if all(e.case_id != case.id for e in entries):
                self.store.set_border(cell, [*entries, entry])

    def _live(self, case_id: str | None) -> CaseRecord | None:
        record = self.store.record(case_id) if case_id else None
        if record is None or record.case.state not in ATTACHABLE:
            return None
        return record

    def _fold_target(self, report: Report) -> CaseRecord | None:
        key = report.attributes.get("fold_key")
        return self._live(self.store.case_of_fold(str(key))) if key else None

    def _nearby(
        self, report: Report, local_only: bool = False
    ) -> tuple[CaseRecord | None, str | None]:
        """The nearest live case of the category within its radius whose last report
        is inside the merge window: ``(record, None)`` when it is this partition's,
        ``(None, case id)`` when it lies across a community line (its own writer
        decides), ``(None, None)`` when there is none. Distance is checked on the
        index entries first, nearest first, so only the cases that could win are
        loaded (loading is the costly part, and a busy cell holds many cases out of
        reach)."""
        category = self.district.taxonomy.get(report.category)
        if report.location is None or category is None:
            return None, None
        radius, window = category.dedup_radius_m, self.merge_window
        lat0, lon0 = report.location.lat, report.location.lon
        scope = near_scope(report.community_code, report.category)
        # Every case whose cell is within two of this one's is indexed here (ring_keys).
        found = [(e, False) for e in self.store.near(cell_key(scope, lat0, lon0, radius))]
        if not local_only:
            for community in self._other_communities(report.community_code, lat0, lon0, radius):
                # A border entry sits under its case's own cell only (the index is
                # global: one changelog record per case): read the ring around ours.
                border = cell_key(near_scope(community, report.category), lat0, lon0, radius)
                found += [(e, True) for key in ring_keys(border) for e in self.store.border(key)]
        # A great circle is at least as long as its change of latitude: entries
        # further north or south than the radius are out without trigonometry.
        band = radius / METRES_PER_DEGREE_LAT * (1 + 1e-9)
        within: list[tuple[float, int, str, bool]] = []
        for entry, remote in found:
            lat = entry.lat
            if abs(lat - lat0) > band:
                continue
            gap = haversine_m(lat0, lon0, lat, entry.lon)
            if gap <= radius:
                # The index order breaks ties: the case indexed first wins.
                within.append((gap, len(within), entry.case_id, remote))
        for _, _, case_id, remote in sorted(within):
            if remote:
                return None, case_id
            record = self._live(case_id)
            if record is not None and report.received_at - record.last_report_at <= window:
                return record, None
        return None, None

    def _other_communities(
        self, community: str, lat: float, lon: float, radius: float
    ) -> list[str]:
        """The other communities a point's merge radius may reach into."""
        return self.district.grids.communities_near(community, lat, lon, radius)

    def join_nearby(self, record: CaseRecord, report: Report) -> list[CaseEvent] | None:
        """A report from across a community line asks to join this case: it does when
        the case is live, of its category, within its radius and merge window;
        None when it cannot (the report then opens a case at home)."""
        case = record.case
        if report.id in record.report_ids:
            return []
        category = self.district.taxonomy.get(case.category)
        if (
            case.state not in ATTACHABLE
            or case.category != report.category
            or category is None
            or case.location is None
            or report.location is None
            or report.received_at - record.last_report_at > self.merge_window
        ):
            return None
        here = (report.location.lat, report.location.lon)
        if distance_m(here, (case.location.lat, case.location.lon)) > category.dedup_radius_m:
            return None
        return self.attach(record, report)

    def _follow_references(self, report: Report, refers_to: list[str]) -> ReportOutcome:
        case_ids = dict.fromkeys(c for c in map(self.store.case_of_fold, refers_to) if c)
        targets = [r for r in map(self._live, case_ids) if r]  # one per case
        if not targets:
            elsewhere = [c for c in map(self.store.case_of_reference, refers_to) if c]
            if elsewhere and self.store.record(elsewhere[0]) is None:
                return ReportOutcome(forward_to=elsewhere[0])
        if report.attributes.get("cancel"):
            if not targets:
                return ReportOutcome(dead_letter=f"cancel: no live case for {refers_to}")
            own = [record for record in targets if owned_by(record, report)]
            if not own:
                # Its alert joined another source's case (nearby): that case is not
                # this source's to withdraw.
                named = ", ".join(record.case.id for record in targets)
                return ReportOutcome(
                    dead_letter=f"cancel: case {named} was opened by another source"
                )
            events: list[CaseEvent] = []
            for record in own:
                events += self.cancel(record, report)
            return ReportOutcome(events=events)
        if targets:
            return ReportOutcome(events=self.attach(targets[0], report))
        if report.attributes.get("references_only"):
            # No area, no incident of its own: nothing to open a case from.
            return ReportOutcome(dead_letter=f"update: no live case for {refers_to}")
        return ReportOutcome(events=self.open(report))

    def follow(self, record: CaseRecord, report: Report) -> list[CaseEvent]:
        """A forwarded Update/Cancel reaches the case's own writer."""
        if report.id in record.report_ids:
            return []
        if report.attributes.get("cancel"):
            return self.cancel(record, report) if owned_by(record, report) else []
        if record.case.state not in ATTACHABLE:
            return []
        return self.attach(record, report)

    # ---------------------------------------------------------- mutations

    def open(self, report: Report) -> list[CaseEvent]:
        """``opened`` for a new report and, when a rule routes it, ``dispatched``."""
        category = self.district.taxonomy.get(report.category)
        if category is None:  # intake already refused unknown categories
            raise ValueError(f"unknown category {report.category!r}")
        priority, reasons = self.district.assess_priority(
            category, report.description, 1, report.source_type, report.attributes
        )
        time = report.received_at
        grid_codes = [str(g) for g in report.attributes.get("grid_codes", [])] or [report.grid_code]
        case = CaseSnapshot(
            id=case_id_for(report),
            state=CaseState.OPEN,
            category=report.category,
            priority=priority,
            grid_code=report.grid_code,
            street_code=report.street_code,
            community_code=report.community_code,
            report_count=1,
            version=1,
            title=report.description[:TITLE_LENGTH],
            location=report.location,
            source=report.source,
            external_ref=report.external_ref,
            opened_at=time,
            updated_at=time,
            priority_reasons=list(reasons),
            grid_codes=grid_codes,
        )
        opened = CaseEvent(
            case_id=case.id,
            version=1,
            type=CaseEventType.OPENED,
            time=time,
            actor=SYSTEM_ACTOR,
            data={"report_id": report.id, "priority_reasons": list(reasons)},
            case=case,
            report=report,
        )
        record = CaseRecord(case=case, last_report_at=time, report_ids=[report.id])
        record = self._register(record, report)
        events = [opened]
        dispatched = self.route(record, time)
        if dispatched is not None:
            events.append(dispatched)
        else:
            self.store.save(record)
        return events

    def _register(self, record: CaseRecord, report: Report) -> CaseRecord:
        """Index a new case under its report id, fold key and nearby cell."""
        case = record.case
        self.store.index_report(report.id, case.id)
        folds = []
        key = report.attributes.get("fold_key")
        if key:
            self.store.set_fold(str(key), case.id)
            folds.append(str(key))
            if str(key).startswith(GLOBAL_REFERENCE_PREFIX):
                self.store.publish_reference(str(key), case.id, case.grid_code)
        cells, borders = [], []
        category = self.district.taxonomy.get(case.category)
        if case.location is not None and category is not None:
            lat, lon = case.location.lat, case.location.lon
            scope = near_scope(case.community_code, case.category)
            cell = cell_key(scope, lat, lon, category.dedup_radius_m)
            entry = NearEntry(case.id, lat, lon)
            for key in ring_keys(cell):
                entries = [e for e in self.store.near(key) if e.case_id != case.id]
                self.store.set_near(key, [*entries, entry])
            cells.append(cell)
            if self._other_communities(case.community_code, lat, lon, category.dedup_radius_m):
                # Near a community line: readable from the neighbours' partitions too.
                entries = [e for e in self.store.border(cell) if e.case_id != case.id]
                entries.append(NearEntry(case.id, lat, lon))
                self.store.set_border(cell, entries)
                borders.append(cell)
        return record.model_copy(
            update={"fold_keys": folds, "cells": cells, "border_cells": borders}
        )

    def unregister(self, record: CaseRecord) -> CaseRecord:
        """A case that left the live states no longer collects reports."""
        for key in record.fold_keys:
            if self.store.case_of_fold(key) == record.case.id:
                self.store.set_fold(key, None)
        for cell in record.cells:
            for key in ring_keys(cell):
                kept = [e for e in self.store.near(key) if e.case_id != record.case.id]
                self.store.set_near(key, kept)
        for cell in record.border_cells:
            kept = [e for e in self.store.border(cell) if e.case_id != record.case.id]
            self.store.set_border(cell, kept)
        return record.model_copy(update={"fold_keys": [], "cells": [], "border_cells": []})

    def attach(self, record: CaseRecord, report: Report) -> list[CaseEvent]:
        """``report_attached``: the case heats up; priority may rise with it."""
        case = record.case
        if report.id in record.report_ids:
            return []
        count = case.report_count + 1
        category = self.district.taxonomy.get(case.category)
        priority, reasons = case.priority, list(case.priority_reasons)
        if category is not None and priority is not Priority.P1:  # P1 cannot rise
            assessed, new_reasons = self.district.assess_priority(
                category, report.description, count, report.source_type, report.attributes
            )
            if assessed < priority:  # "P1" < "P2": more urgent
                priority, reasons = assessed, list(new_reasons)
        self.store.index_report(report.id, case.id)
        key = report.attributes.get("fold_key")
        folds = list(record.fold_keys)
        if key and str(key) not in folds:
            self.store.set_fold(str(key), case.id)
            folds.append(str(key))
            if str(key).startswith(GLOBAL_REFERENCE_PREFIX):
                self.store.publish_reference(str(key), case.id, case.grid_code)
        event = next_event(
            case,
            CaseEventType.REPORT_ATTACHED,
            report.received_at,
            SYSTEM_ACTOR,
            data={"report_id": report.id, "report_count": count, "priority": priority.value},
            report=report,
            report_count=count,
            priority=priority,
            priority_reasons=reasons,
        )
        self.store.save(
            record.model_copy(
                update={
                    "case": event.case,
                    "last_report_at": report.received_at,
                    "fold_keys": folds,
                    "report_ids": [*record.report_ids, report.id],
                }
            )
        )
        return [event]

    def cancel(self, record: CaseRecord, report: Report) -> list[CaseEvent]:
        """The source withdrew the event (CAP Cancel): reject with its reason."""
        decision = decide(record.case.state, "cancel")
        if not decision.allowed:
            return []
        self.store.index_report(report.id, record.case.id)
        reason = str(report.attributes.get("cancel_reason") or "cancelled by the source")
        event = next_event(
            record.case,
            CaseEventType.REJECTED,
            report.received_at,
            f"source:{report.source}",
            data={"reason": reason, "report_id": report.id, "rule": "cancel"},
            report=report,
            state=CaseState.REJECTED,
            closed_at=report.received_at,
        )
        kept = self.unregister(record)
        self.store.save(
            kept.model_copy(
                update={"case": event.case, "report_ids": [*record.report_ids, report.id]}
            )
        )
        return [event]

    def route(
        self,
        record: CaseRecord,
        time: datetime,
        actor: str = ROUTING_ACTOR,
        department: str | None = None,
        co_departments: Sequence[str] = (),
    ) -> CaseEvent | None:
        """Dispatch by the routing rules (or to ``department`` with
        ``co_departments``), saving the record; None when no rule routes it: the
        case stays ``open`` for the operator.

        Each department gets a task (the lead's, and a co-department's unless it
        already holds an open one). The SLA clock runs from the first dispatch: a
        case dispatched again (after its lead returned it) keeps its deadline and
        its supervision marks; only the new tasks' response deadlines start now."""
        case = record.case
        co: tuple[str, ...] = tuple(co_departments)
        if department is not None:
            lead, reasons = department, [f"dispatched to {department} by {actor}"]
        else:
            decision = self.district.route(
                case.category,
                case.street_code,
                case.community_code,
                exclude=frozenset(case.excluded_departments),
            )
            if decision is None:
                return None
            lead, co, reasons = decision.lead, decision.co, list(decision.reasons)
        respond_by, resolve_by = self.district.deadlines(case.priority, time)
        first = case.dispatched_at is None
        if not first:
            resolve_by = case.resolve_by or case.due_by or resolve_by
        tasks = case.current_tasks()
        tasks.append(new_task(tasks, lead, TaskRole.LEAD, time, respond_by, resolve_by))
        for code in co:
            held = [t for t in tasks if t.department == code and t.unfinished]
            if code != lead and not held:
                tasks.append(new_task(tasks, code, TaskRole.CO, time, respond_by, resolve_by))
        changes: dict[str, Any] = with_tasks(tasks)
        if first:
            changes.update(dispatched_at=time, due_by=resolve_by, sla_state=SlaState.ON_TRACK)
        event = next_event(
            case,
            CaseEventType.DISPATCHED,
            time,
            actor,
            data={
                "department": lead,
                "departments": list(changes["departments"]),
                "reasons": reasons,
                "respond_by": respond_by.isoformat(),
                "resolve_by": resolve_by.isoformat(),
            },
            state=CaseState.DISPATCHED,
            respond_by=respond_by,
            resolve_by=resolve_by,
            routing_reasons=reasons,
            **changes,
        )
        kept = {} if not first else {"sla_started_at": time, "marks": []}
        self.store.save(record.model_copy(update={"case": event.case, **kept}))
        return event


def owned_by(record: CaseRecord, report: Report) -> bool:
    """Whether the case was opened by the source of ``report`` (only it may cancel)."""
    return record.case.source == report.source


def is_live(case: CaseSnapshot) -> bool:
    return case.state in LIVE_STATES
