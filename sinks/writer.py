"""The case projection writer: ``CaseEvent`` batches into the database, idempotently.

Lifecycle of one :meth:`CaseProjectionWriter.write` call:

1. The batch is reduced in memory: timeline rows deduplicated by
   ``(case_id, version)``; each case collapsed to its highest version in the
   batch; each report to its last occurrence (its latest ``case_id``).
2. One transaction runs one batched ``INSERT ... ON CONFLICT`` per table:

   - ``case_events``: conflict on ``(case_id, version)`` → nothing;
   - ``cases``: conflict on ``id`` → update only ``WHERE stored.version <
     incoming.version``, so replays and out-of-order duplicates change nothing;
   - ``reports``: conflict on ``id`` → set ``case_id`` when it differs. A report
     whose ``(source, source_event_id)`` is already stored under another id is
     skipped (first id wins) rather than failing the batch on that unique key;
   - ``case_tasks`` / ``case_extensions`` / ``case_orders``: the parts changed
     within the batch, each updated only by a higher part version (:mod:`sinks.parts`).

   PostgreSQL gets the whole batch of a table as ONE ``jsonb`` parameter,
   expanded server-side by ``jsonb_to_recordset`` (``INSERT ... SELECT``): a
   small statement that is parsed once, whatever the batch size. SQLite gets a
   multi-row ``INSERT ... VALUES`` (SQLAlchemy "insertmanyvalues" pages).
3. The transaction commits, then :class:`~sinks.ports.WriteStats` is returned.

On any database error the transaction is rolled back and the exception
propagates: nothing of the batch is kept. The caller retries with back-off and
commits its Kafka offsets only after ``write()`` returned, so every event is
projected at least once, and projecting it again is harmless.

The writer holds no state beyond the engine and prepared statements, and is safe
to call from several threads (each call checks out its own connection).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

import orjson
from sqlalchemy import (
    Connection,
    Engine,
    Executable,
    Table,
    bindparam,
    column,
    exists,
    func,
    select,
    tuple_,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB

from schemas.cases import CaseEvent, CaseSnapshot, CaseState
from schemas.encoded import snapshot_json
from schemas.reports import Report
from sinks.models import case_events, cases, reports
from sinks.parts import changed_parts, write_parts
from sinks.ports import Archived, ArchivedCase, WriteStats

log = logging.getLogger(__name__)

# Keys per SELECT when SQLite checks report keys (2 parameters each; limit 32766).
_KEYS_PER_QUERY = 10_000

Row = dict[str, Any]
_ENDED_STATES = [CaseState.CLOSED.value, CaseState.REJECTED.value, CaseState.MERGED.value]


class CaseProjectionWriter:
    """:class:`~sinks.ports.CaseSink` on a SQLAlchemy engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        name = engine.dialect.name
        if name == "postgresql":
            self._tables: _Tables = _PostgresTables()
        elif name == "sqlite":
            self._tables = _SqliteTables()
        else:
            raise ValueError(f"unsupported database dialect {name!r}")
        self.engine = engine

    def write(self, events: Sequence[CaseEvent]) -> WriteStats:
        """Project ``events`` in one transaction; raises (nothing kept) on failure."""
        if not events:
            return WriteStats()
        stats = self.write_rows(*_reduce(events), parts=changed_parts(events))
        return WriteStats(
            events=len(events),
            cases=stats.cases,
            reports=stats.reports,
            timeline_inserted=stats.timeline_inserted,
        )

    def write_rows(
        self,
        timeline: list[Row],
        case_rows: list[Row],
        report_rows: list[Row],
        parts: dict[Table, list[Row]] | None = None,
    ) -> WriteStats:
        """The rows of the tables in one transaction, by the statements :meth:`write`
        uses (the bench's same-hops baseline writes through it too); ``parts``: the
        tasks, extensions and orders changed (:func:`sinks.parts.changed_parts`)."""
        with self.engine.begin() as conn:
            # Writes first: on SQLite that takes the write lock before any read.
            inserted = self._tables.timeline(conn, timeline)
            upserted = self._tables.cases(conn, case_rows)
            attached = self._tables.reports(conn, report_rows) if report_rows else 0
            if parts:
                write_parts(conn, parts)
        return WriteStats(
            events=len(timeline),
            cases=upserted,
            reports=attached,
            timeline_inserted=inserted,
        )

    def archived(self, report_ids: Sequence[str], case_ids: Sequence[str]) -> Archived:
        """:class:`~sinks.ports.CaseArchive`: the cases no longer live among
        ``case_ids`` and the cases of ``report_ids``, each with its reports (and
        those of the cases merged into it), oldest first; three indexed reads."""
        with self.engine.connect() as conn:
            owners: dict[str, str] = {}
            for start in range(0, len(report_ids), _KEYS_PER_QUERY):
                chunk = list(report_ids[start : start + _KEYS_PER_QUERY])
                query = select(reports.c.id, reports.c.case_id).where(reports.c.id.in_(chunk))
                owners.update({str(r): str(c) for r, c in conn.execute(query)})
            wanted = sorted({*case_ids, *owners.values()})
            found: dict[str, CaseSnapshot] = {}
            for start in range(0, len(wanted), _KEYS_PER_QUERY):
                chunk = wanted[start : start + _KEYS_PER_QUERY]
                query = select(cases.c.id, cases.c.snapshot).where(
                    cases.c.id.in_(chunk), cases.c.state.in_(_ENDED_STATES)
                )
                for case_id, snapshot in conn.execute(query):
                    found[str(case_id)] = CaseSnapshot.model_validate(snapshot)
            taken: dict[str, list[str]] = {case_id: [] for case_id in found}
            if found:
                into = (
                    select(cases.c.id, cases.c.merged_into)
                    .where(cases.c.merged_into.in_(list(found)))
                    .subquery()
                )
                own = select(reports.c.id, reports.c.case_id, reports.c.received_at).where(
                    reports.c.case_id.in_(list(found))
                )
                handed = select(reports.c.id, into.c.merged_into, reports.c.received_at).join(
                    into, into.c.id == reports.c.case_id
                )
                both = own.union_all(handed).subquery()
                query = select(both.c[0], both.c[1]).order_by(both.c[2], both.c[0])
                for report_id, case_id in conn.execute(query):
                    taken[str(case_id)].append(str(report_id))
        return Archived(
            cases={c: ArchivedCase(found[c], tuple(taken[c])) for c in found},
            reports={r: c for r, c in owners.items() if c in found},
        )


class _Tables(Protocol):
    """One dialect's statements; each returns the number of rows inserted or changed."""

    def timeline(self, conn: Connection, rows: list[Row]) -> int: ...
    def cases(self, conn: Connection, rows: list[Row]) -> int: ...
    def reports(self, conn: Connection, rows: list[Row]) -> int: ...


def _upsert_clauses(ins: Any, table: Table) -> Any:
    """``ON CONFLICT`` of each table, for either dialect's ``insert`` construct."""
    if table is case_events:
        return ins.on_conflict_do_nothing(index_elements=["case_id", "version"])
    if table is cases:
        return ins.on_conflict_do_update(
            index_elements=["id"],
            set_={c.name: ins.excluded[c.name] for c in cases.columns if c.name != "id"},
            where=cases.c.version < ins.excluded.version,
        )
    return ins.on_conflict_do_update(
        index_elements=["id"],
        set_={"case_id": ins.excluded.case_id},
        where=reports.c.case_id != ins.excluded.case_id,
    )


class _PostgresTables:
    """``INSERT INTO t SELECT ... FROM jsonb_to_recordset(:rows) ... ON CONFLICT``."""

    def __init__(self) -> None:
        self._timeline = self._statement(case_events)
        self._cases = self._statement(cases)
        self._reports = self._statement(reports)

    @staticmethod
    def _statement(table: Table) -> Executable:
        names = [c.name for c in table.columns]
        batch = (
            func.jsonb_to_recordset(bindparam("rows", type_=JSONB))
            .table_valued(*(column(n, table.c[n].type) for n in names))
            .render_derived(name="batch", with_types=True)
        )
        query = select(*(batch.c[n] for n in names))
        if table is reports:
            # The other unique key: skip reports already stored under another id.
            query = query.where(
                ~exists().where(
                    reports.c.source == batch.c.source,
                    reports.c.source_event_id == batch.c.source_event_id,
                    reports.c.id != batch.c.id,
                )
            )
        stmt: Executable = _upsert_clauses(
            postgresql.insert(table).from_select(names, query), table
        )
        return stmt

    @staticmethod
    def _run(conn: Connection, stmt: Executable, rows: list[Row]) -> int:
        if not rows:
            return 0
        result = conn.execute(stmt.execution_options(preserve_rowcount=True), {"rows": rows})
        return int(result.rowcount)

    def timeline(self, conn: Connection, rows: list[Row]) -> int:
        return self._run(conn, self._timeline, rows)

    def cases(self, conn: Connection, rows: list[Row]) -> int:
        return self._run(conn, self._cases, rows)

    def reports(self, conn: Connection, rows: list[Row]) -> int:
        return self._run(conn, self._reports, rows)


class _SqliteTables:
    """Multi-row ``INSERT ... VALUES ... ON CONFLICT ... RETURNING`` (counts the changes)."""

    def __init__(self) -> None:
        self._timeline = self._statement(case_events, case_events.c.version)
        self._cases = self._statement(cases, cases.c.version)
        self._reports = self._statement(reports, reports.c.id)

    @staticmethod
    def _statement(table: Table, returned: Any) -> Executable:
        stmt: Any = _upsert_clauses(sqlite.insert(table), table)
        returning: Executable = stmt.returning(returned)
        return returning

    @staticmethod
    def _run(conn: Connection, stmt: Executable, rows: list[Row]) -> int:
        if not rows:
            return 0
        return len(conn.execute(stmt, rows).all())

    def timeline(self, conn: Connection, rows: list[Row]) -> int:
        return self._run(conn, self._timeline, rows)

    def cases(self, conn: Connection, rows: list[Row]) -> int:
        return self._run(conn, self._cases, rows)

    def reports(self, conn: Connection, rows: list[Row]) -> int:
        return self._run(conn, self._reports, _without_foreign_duplicates(conn, rows))


def _without_foreign_duplicates(conn: Connection, rows: list[Row]) -> list[Row]:
    """Drop reports whose ``(source, source_event_id)`` is stored under another id."""
    taken: dict[tuple[str, str], str] = {}
    keys = [(r["source"], r["source_event_id"]) for r in rows]
    for start in range(0, len(keys), _KEYS_PER_QUERY):
        query = select(reports.c.id, reports.c.source, reports.c.source_event_id).where(
            tuple_(reports.c.source, reports.c.source_event_id).in_(
                keys[start : start + _KEYS_PER_QUERY]
            )
        )
        for rid, source, source_event_id in conn.execute(query):
            taken[(source, source_event_id)] = rid
    kept = []
    for row in rows:
        owner = taken.get((row["source"], row["source_event_id"]))
        if owner is not None and owner != row["id"]:
            log.warning(
                "report %s skipped: source %s event %s is already stored as report %s",
                row["id"],
                row["source"],
                row["source_event_id"],
                owner,
            )
            continue
        kept.append(row)
    return kept


# -- from events to rows ------------------------------------------------------------


def _reduce(events: Sequence[CaseEvent]) -> tuple[list[Row], list[Row], list[Row]]:
    """Timeline rows (first of each version), case rows (highest version of each
    case), report rows (last occurrence of each report id, first id of each
    ``(source, source_event_id)``)."""
    timeline: dict[tuple[str, int], Row] = {}
    latest: dict[str, CaseEvent] = {}
    report_rows: dict[str, Row] = {}
    owners: dict[tuple[str, str], str] = {}
    for event in events:
        key = (event.case_id, event.version)
        if key not in timeline:
            timeline[key] = {
                "case_id": event.case_id,
                "version": event.version,
                "event_id": event.event_id,
                "type": event.type.value,
                "time": event.time,
                "actor": event.actor,
                "data": event.data,
            }
        best = latest.get(event.case_id)
        if best is None or event.case.version > best.case.version:
            latest[event.case_id] = event
        report = event.report
        if report is not None:
            source_key = (report.source, report.source_event_id)
            owner = owners.setdefault(source_key, report.id)
            if owner == report.id:
                report_rows[report.id] = _report_row(report, event.case_id)
    # Key order is lock order: concurrent writers (e.g. during a rebalance) that
    # touch the same rows then wait for each other instead of deadlocking.
    return (
        [timeline[k] for k in sorted(timeline)],
        [_case_row(latest[k]) for k in sorted(latest)],
        [report_rows[k] for k in sorted(report_rows)],
    )


def _case_row(event: CaseEvent) -> Row:
    case = event.case
    return {
        "id": case.id,
        "state": case.state.value,
        "category": case.category,
        "priority": case.priority.value,
        "grid_code": case.grid_code,
        "street_code": case.street_code,
        "community_code": case.community_code,
        "lead_department": case.lead_department,
        "departments": case.departments,
        "report_count": case.report_count,
        "respond_by": case.respond_by,
        "resolve_by": case.resolve_by,
        "sla_state": case.sla_state.value,
        "rework_count": case.rework_count,
        "escalation_level": case.escalation_level,
        "merged_into": case.merged_into,
        "version": case.version,
        "title": case.title,
        "source": case.source,
        "external_ref": case.external_ref,
        "opened_at": case.opened_at,
        "updated_at": case.updated_at,
        "closed_at": case.closed_at,
        "dispatched_at": case.dispatched_at,
        "due_by": case.due_by,
        "deferrals": case.deferrals,
        # The bytes the case event carries (one serialisation for both).
        "snapshot": orjson.Fragment(snapshot_json(case)),
    }


def _report_row(report: Report, case_id: str) -> Row:
    location = report.location
    return {
        "id": report.id,
        "case_id": case_id,
        "source": report.source,
        "source_type": report.source_type,
        "source_event_id": report.source_event_id,
        "category": report.category,
        "description": report.description,
        "grid_code": report.grid_code,
        "lat": location.lat if location is not None else None,
        "lon": location.lon if location is not None else None,
        "occurred_at": report.occurred_at,
        "received_at": report.received_at,
        "media": report.media,
        "reporter": (
            report.reporter.model_dump(mode="json", exclude_defaults=True)
            if report.reporter is not None
            else None
        ),
        "external_ref": report.external_ref,
        "submitted_by": report.submitted_by,
        "attributes": report.attributes,
    }
