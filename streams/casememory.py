"""What the case agent holds for the partitions it owns, and how it survives a crash.

In memory, for the cases this worker writes:

- the case records (``CaseRecord``: the snapshot plus the agent's bookkeeping,
  the ids of the case's reports among it);
- three indexes derived from them: report id -> case, fold key -> live case,
  nearby cell -> live cases of a category (``streams.logic.casestore``);
- the hotspot state of every grid × category (``streams.logic.hotspots``).

Beside memory, two global tables every worker holds in full (a changelog record
per key a batch changed, written by the key's one writer when the batch is
applied): CAP references (fold key -> case, grid) and the border index (cell of
a live case near a community line -> its entries), read across partitions.

Durable, in one compacted changelog (the ``cases`` table, bytes values): one
record per case that changed and one per hotspot state that changed, written
when the consumer is about to commit offsets (:meth:`CaseMemory.flush`, called
by ``streams.delivery``) — so a case that changes a hundred times between two
commits costs one record, and no offset is committed before the state that
covers it is on its way to the broker (the commit waits for it). Hotspot states
are written before the case records of the same commit, on the same
partition, so they reach the broker first: a crash between the two leaves the
counts ahead of the records, never behind (``count_report`` skips positions
already counted, and the records re-derived count nothing twice).

The indexes have no changelog: after every recovery (a rebalance, a restart)
they are rebuilt from the recovered records. Nearby-cell entries expire with
the merge window: a case whose last report is older than the window (plus an
hour for reports arriving out of order) cannot take a report by distance.

Closed, rejected and merged cases leave memory ``closed_retention`` after they
closed, when an archive is given (``sinks.ports.CaseArchive``: the database
projection, committed before their last inputs were acked). A later command on
one (reopen, rate) or a late copy of one of its reports finds it there again
(:class:`StagedCaseStore`); a command retried after the retention is not
recognised by its id (a rating given twice is a rating). Memory is bounded by
the live cases and those closed within the retention, not by history.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import orjson

from schemas.cases import LIVE_STATES, CaseSnapshot
from schemas.encoded import snapshot_json
from streams.logic.casestore import CaseRecord, NearEntry, ring_keys
from streams.logic.hotspots import HotspotState
from streams.tables import StateTable

HOTSPOT_KEY = "~hotspot|"  # hotspot states share the table; case ids start with digits
EVICTED_KEY = "~evicted|"  # a partition from which cases left memory: ask the archive
#: Reports may arrive this much out of order before an expired nearby entry matters.
NEAR_SLACK = timedelta(hours=1)
_DELETE = object()


def record_bytes(record: CaseRecord) -> bytes:
    """The record as JSON, its snapshot spliced in as the case event wrote it."""
    rest = record.__pydantic_serializer__.to_json(record, exclude={"case"})
    joint = b"," if len(rest) > 2 else b""
    return b'{"case":' + snapshot_json(record.case) + joint + rest[1:]


def reference_entry(value: Any) -> tuple[str | None, str | None]:
    """``(case id, grid code)`` of a ``reference-index`` value: a JSON object, or
    the bare case id written before the index kept grids (no grid known then)."""
    if isinstance(value, dict):
        case_id, grid_code = value.get("case_id"), value.get("grid_code")
        return (str(case_id) if case_id else None, str(grid_code) if grid_code else None)
    return (str(value) if value is not None else None, None)


class CaseMemory:
    """The agent's records, indexes and hotspot states over its ``cases`` table."""

    def __init__(
        self,
        table: StateTable,
        merge_window: timedelta,
        closed_retention: timedelta | None = None,
    ) -> None:
        self.table = table
        self.merge_window = merge_window
        self.closed_retention = closed_retention
        self.records: dict[str, CaseRecord] = {}
        self.reports: dict[str, str] = {}
        self.folds: dict[str, str] = {}
        self.cells: dict[str, list[NearEntry]] = {}
        self.hotspots: dict[str, HotspotState] = {}
        self.partition: dict[str, int] = {}  # case id or hotspot key -> changelog partition
        self.evicted: set[int] = set()  # partitions some case left memory from
        self._dirty_cases: set[str] = set()
        self._dirty_hotspots: set[str] = set()
        self._new_evicted: set[int] = set()
        self._written: dict[str, tuple[bytes, CaseRecord]] = {}  # table bytes, parsed

    # ------------------------------------------------------------------ writes

    def put(self, record: CaseRecord, partition: int) -> None:
        case_id = record.case.id
        self.records[case_id] = record
        self.partition[case_id] = partition
        self._dirty_cases.add(case_id)

    def put_hotspot(self, key: str, state: HotspotState, partition: int) -> None:
        self.hotspots[key] = state
        self.partition[HOTSPOT_KEY + key] = partition
        self._dirty_hotspots.add(key)

    def flush(self) -> int:
        """Write every state changed since the last flush to the table (hotspot
        states first); returns the number of writes. Called before each commit."""
        writes = 0
        table = self.table
        for partition in sorted(self._new_evicted):
            table.write(f"{EVICTED_KEY}{partition}", b"1", partition)
            writes += 1
        self._new_evicted.clear()
        for key in sorted(self._dirty_hotspots):
            state = self.hotspots.get(key)
            stored = HOTSPOT_KEY + key
            value = orjson.dumps(state.to_json()) if state is not None else None
            table.write(stored, value, self.partition[stored])
            writes += 1
        self._dirty_hotspots.clear()
        for case_id in sorted(self._dirty_cases):
            record = self.records.get(case_id)
            partition = self.partition[case_id]
            if record is None:
                table.write(case_id, None, partition)
                self._written.pop(case_id, None)
                self.partition.pop(case_id, None)
            else:
                raw = record_bytes(record)
                table.write(case_id, raw, partition)
                self._written[case_id] = (raw, record)
            writes += 1
        self._dirty_cases.clear()
        return writes

    # ---------------------------------------------------------------- recovery

    def rebuild(self) -> None:
        """Everything in memory again from what the table holds for the partitions
        this worker was just given (after Faust's recovery of the table). What
        changed since the last flush is dropped: its inputs were not committed and
        are read again."""
        records: dict[str, CaseRecord] = {}
        hotspots: dict[str, HotspotState] = {}
        partition: dict[str, int] = {}
        evicted: set[int] = set()
        written: dict[str, tuple[bytes, CaseRecord]] = {}
        for key, raw, where in self.table.stored():
            if key.startswith(EVICTED_KEY):
                evicted.add(int(key[len(EVICTED_KEY) :]))
                continue
            if where is not None:
                partition[key] = where
            if key.startswith(HOTSPOT_KEY):
                hotspots[key[len(HOTSPOT_KEY) :]] = HotspotState.from_json(orjson.loads(raw))
                continue
            hit = self._written.get(key)
            record = hit[1] if hit is not None and hit[0] == raw else None
            if record is None:
                record = CaseRecord.model_validate_json(raw)
            records[key] = record
            written[key] = (raw, record)
        self.records, self.hotspots, self.partition = records, hotspots, partition
        self.evicted, self._written = evicted, written
        self._dirty_cases.clear()
        self._dirty_hotspots.clear()
        self._new_evicted.clear()
        self.reindex()

    def reindex(self) -> None:
        """The report, fold and nearby-cell indexes from the records."""
        self.reports, self.folds, self.cells = {}, {}, {}
        newest = max((r.last_report_at for r in self.records.values()), default=None)
        for case_id, record in self.records.items():
            for report_id in record.report_ids:
                self.reports[report_id] = case_id
            for key in record.fold_keys:
                self.folds[key] = case_id
            case = record.case
            if case.location is None or not record.cells or self._expired(record, newest):
                continue
            entry = NearEntry(case_id, case.location.lat, case.location.lon)
            for cell in record.cells:
                for key in ring_keys(cell):
                    self.cells.setdefault(key, []).append(entry)

    def _expired(self, record: CaseRecord, newest: datetime | None) -> bool:
        return (
            newest is not None and record.last_report_at + self.merge_window + NEAR_SLACK < newest
        )

    # ------------------------------------------------------------ the sweeps

    def expire_near(self) -> int:
        """Drop the nearby-cell entries of cases past the merge window; of how many cases."""
        newest = max((r.last_report_at for r in self.records.values()), default=None)
        gone = 0
        for case_id, record in self.records.items():
            if not record.cells or not self._expired(record, newest):
                continue
            found = False
            for key in {k for cell in record.cells for k in ring_keys(cell)}:
                entries = self.cells.get(key)
                if entries is None:
                    continue
                kept = [e for e in entries if e.case_id != case_id]
                found = found or len(kept) < len(entries)
                if kept:
                    self.cells[key] = kept
                else:
                    del self.cells[key]
            gone += found
        return gone

    def evict_closed(self, now: datetime) -> list[str]:
        """Let the cases closed more than ``closed_retention`` ago leave memory
        (their tombstones are written at the next flush); their ids."""
        if self.closed_retention is None:
            return []
        horizon = now - self.closed_retention
        gone = [
            case_id
            for case_id, record in self.records.items()
            if record.case.state not in LIVE_STATES
            and (record.case.closed_at or record.case.updated_at) <= horizon
        ]
        for case_id in gone:
            record = self.records.pop(case_id)
            for report_id in record.report_ids:
                if self.reports.get(report_id) == case_id:
                    del self.reports[report_id]
            self._dirty_cases.add(case_id)
            partition = self.partition[case_id]
            if partition not in self.evicted:
                self.evicted.add(partition)
                self._new_evicted.add(partition)
        return gone

    def items(self) -> Iterable[tuple[str, CaseRecord]]:
        return list(self.records.items())

    def cases(self) -> list[CaseSnapshot]:
        """The snapshots of the cases held (the worker's case census)."""
        return [record.case for record in self.records.values()]


class StagedCaseStore:
    """:class:`~streams.logic.casestore.CaseStore` over :class:`CaseMemory` for one
    batch: reads see the batch's own writes, which wait for :meth:`apply`.

    ``archived`` holds the cases of this batch's inputs that left memory (from
    the archive, looked up before the batch): they read as if held, and one the
    batch changes is held again."""

    def __init__(
        self,
        memory: CaseMemory,
        references: Any,
        archived: dict[str, CaseRecord] | None = None,
        archived_reports: dict[str, str] | None = None,
        borders: Any = None,
    ) -> None:
        self.memory = memory
        self.references = references
        self.borders: Any = borders if borders is not None else {}
        self.partition = 0
        self._archived = archived or {}
        self._archived_reports = archived_reports or {}
        self._records: dict[str, tuple[CaseRecord, int]] = {}
        self._before: dict[str, CaseRecord | None] = {}
        self._reports: dict[str, str] = {}
        self._folds: dict[str, Any] = {}
        self._cells: dict[str, list[NearEntry]] = {}
        self._references: dict[str, tuple[dict[str, str], int]] = {}
        self._borders: dict[str, tuple[list[list[Any]] | None, int]] = {}
        self._hotspots: dict[str, tuple[HotspotState, int]] = {}

    # -------------------------------------------------------------- records

    def record(self, case_id: str) -> CaseRecord | None:
        staged = self._records.get(case_id)
        if staged is not None:
            return staged[0]
        held = self.memory.records.get(case_id)
        return held if held is not None else self._archived.get(case_id)

    def before(self, case_id: str) -> CaseRecord | None:
        """The record as the batch found it (None: the batch opened the case)."""
        if case_id in self._before:
            return self._before[case_id]
        return self.record(case_id)

    def save(self, record: CaseRecord) -> None:
        case_id = record.case.id
        if case_id not in self._before:
            self._before[case_id] = self.record(case_id)
        self._records[case_id] = (record, self.partition)

    def report_ids(self, case_id: str) -> list[str]:
        record = self.record(case_id)
        return record.report_ids if record is not None else []

    # -------------------------------------------------------------- indexes

    def case_of_report(self, report_id: str) -> str | None:
        found = self._reports.get(report_id) or self.memory.reports.get(report_id)
        return found or self._archived_reports.get(report_id)

    def index_report(self, report_id: str, case_id: str) -> None:
        self._reports[report_id] = case_id

    def case_of_fold(self, key: str) -> str | None:
        staged = self._folds.get(key)
        if staged is not None:
            return None if staged is _DELETE else str(staged)
        return self.memory.folds.get(key)

    def set_fold(self, key: str, case_id: str | None) -> None:
        self._folds[key] = _DELETE if case_id is None else case_id

    def near(self, key: str) -> list[NearEntry]:
        staged = self._cells.get(key)
        if staged is not None:
            return staged
        return self.memory.cells.get(key, [])

    def set_near(self, key: str, entries: list[NearEntry]) -> None:
        self._cells[key] = list(entries)

    def case_of_reference(self, key: str) -> str | None:
        staged = self._references.get(key)
        value = staged[0] if staged is not None else self.references.get(key)
        return reference_entry(value)[0]

    def publish_reference(self, key: str, case_id: str, grid_code: str) -> None:
        self._references[key] = ({"case_id": case_id, "grid_code": grid_code}, self.partition)

    def border(self, key: str) -> list[NearEntry]:
        staged = self._borders.get(key)
        value = staged[0] if staged is not None else self.borders.get(key)
        return [NearEntry(str(c), float(lat), float(lon)) for c, lat, lon in value or ()]

    def set_border(self, key: str, entries: list[NearEntry]) -> None:
        value = [[e.case_id, e.lat, e.lon] for e in entries] if entries else None
        self._borders[key] = (value, self.partition)

    # ------------------------------------------------------------- hotspots

    def hotspot(self, key: str) -> HotspotState | None:
        staged = self._hotspots.get(key)
        return staged[0] if staged is not None else self.memory.hotspots.get(key)

    def put_hotspot(self, key: str, state: HotspotState) -> None:
        self._hotspots[key] = (state, self.partition)

    # ---------------------------------------------------------------- apply

    def apply(self) -> None:
        """Hand the batch's state to memory (written to the table at the next
        flush) and its CAP references to the global table."""
        memory = self.memory
        for key, (state, partition) in self._hotspots.items():
            memory.put_hotspot(key, state, partition)
        for record, partition in self._records.values():
            memory.put(record, partition)
        held = memory.records
        for report_id, case_id in self._reports.items():
            if case_id in held:  # not for a late copy's case that stays archived
                memory.reports[report_id] = case_id
        for key, value in self._folds.items():
            if value is _DELETE:
                memory.folds.pop(key, None)
            else:
                memory.folds[key] = str(value)
        for key, entries in self._cells.items():
            if entries:
                memory.cells[key] = entries
            else:
                memory.cells.pop(key, None)
        for key, (value, partition) in self._references.items():
            _write_pinned(self.references, key, value, partition)
        # One changelog record per border cell the batch changed, whatever the
        # number of its changes (its key names the writer's own community).
        for key, (border, partition) in self._borders.items():
            _write_pinned(self.borders, key, border, partition)


def _write_pinned(table: Any, key: str, value: Any, partition: int) -> None:
    """Set (``None``: delete) a key of a global table on the changelog partition of
    its writer (a plain dict, in tests, is just set)."""
    pinned = hasattr(table, "pinned")
    if pinned:
        table.pinned = partition
    try:
        if value is not None:
            table[key] = value
        elif key in table:
            del table[key]
    finally:
        if pinned:
            table.pinned = None
