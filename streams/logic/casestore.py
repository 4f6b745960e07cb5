"""What the case agent remembers, behind one small port: the case records and
the indexes that route a new report to an existing case (report id, fold key,
nearby cell, and — for cases near a community line — the border index every
worker can read). The agent backs it with Faust tables; unit tests with dicts.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import h3
from pydantic import BaseModel, ConfigDict, Field

from schemas.cases import CaseSnapshot

RECENT_COMMANDS = 64


class CaseRecord(BaseModel):
    """The case agent's own view of a case: the public snapshot plus the
    bookkeeping it needs to keep its indexes right, and the ids of the reports
    it took (the source of truth for "this report was already applied")."""

    model_config = ConfigDict(frozen=True)

    case: CaseSnapshot
    last_report_at: datetime
    report_ids: list[str] = Field(default_factory=list)
    fold_keys: list[str] = Field(default_factory=list)
    cells: list[str] = Field(default_factory=list)
    border_cells: list[str] = Field(
        default_factory=list, description="its entries in the border index (near a community line)"
    )
    sla_started_at: datetime | None = None
    marks: list[str] = Field(default_factory=list, description="SLA marks already raised")
    commands: list[str] = Field(default_factory=list, description="recent command ids")


@dataclass(frozen=True)
class NearEntry:
    case_id: str
    lat: float
    lon: float


@functools.cache
def cell_resolution(radius_m: float) -> int:
    """The finest H3 resolution whose hexagon edge is at least the merge radius,
    so every point within the radius lies in the 2-ring around a report's cell.
    (Cached: a district has a handful of radii and every report asks.)"""
    for res in range(15, -1, -1):
        if h3.average_hexagon_edge_length(res, "m") >= radius_m:
            return res
    return 0


def near_scope(community_code: str, category: str) -> str:
    """What near-index keys are scoped by: a case's community and category (a
    report may only join a case of its own partition, i.e. community: one writer
    per case)."""
    return f"{community_code}|{category}"


def cell_key(scope: str, lat: float, lon: float, radius_m: float) -> str:
    """The near-index key of a point: its scope and its H3 cell for the radius."""
    return f"{scope}|{h3.latlng_to_cell(lat, lon, cell_resolution(radius_m))}"


@functools.lru_cache(maxsize=16384)
def ring_keys(key: str) -> tuple[str, ...]:
    """The keys of the 2-ring around a key's cell, its own among them, sorted.

    A case is indexed under every key of the ring around its own cell, so a
    report looks up its own cell's key alone: a case within the radius lies in
    the ring around the report's cell exactly when the report lies in the ring
    around the case's (grid distance is symmetric). Writing 19 keys per new case
    costs less than reading 19 per report, and most reports only read. (Cached:
    reports cluster in a district's few thousand cells.)"""
    scope, cell = key.rsplit("|", 1)
    return tuple(f"{scope}|{c}" for c in sorted(h3.grid_disk(cell, 2)))


class CaseStore(Protocol):
    def record(self, case_id: str) -> CaseRecord | None: ...

    def save(self, record: CaseRecord) -> None: ...

    def case_of_report(self, report_id: str) -> str | None: ...

    def index_report(self, report_id: str, case_id: str) -> None: ...

    def case_of_fold(self, key: str) -> str | None: ...

    def set_fold(self, key: str, case_id: str | None) -> None: ...

    def near(self, key: str) -> list[NearEntry]:
        """The live cases indexed under a cell key (see :func:`ring_keys`; the
        caller does not change the list: :meth:`set_near` replaces it)."""
        ...

    def case_of_reference(self, key: str) -> str | None:
        """Fold key -> case id across every partition (CAP alerts), for the
        Update or Cancel whose area lies in another community."""
        ...

    def publish_reference(self, key: str, case_id: str, grid_code: str) -> None:
        """Publish a CAP fold key to every worker with its case and the case's
        grid (where intake places an Update or Cancel that has no area)."""
        ...

    def set_near(self, key: str, entries: list[NearEntry]) -> None: ...

    def border(self, key: str) -> list[NearEntry]:
        """Near-index entries of live cases close to a community line, readable on
        every worker (the key names the case's own community, its only writer)."""
        ...

    def set_border(self, key: str, entries: list[NearEntry]) -> None: ...


@dataclass
class DictCaseStore:
    """:class:`CaseStore` in dictionaries, for unit tests of the case logic."""

    records: dict[str, CaseRecord] = field(default_factory=dict)
    reports: dict[str, str] = field(default_factory=dict)
    folds: dict[str, str] = field(default_factory=dict)
    cells: dict[str, list[NearEntry]] = field(default_factory=dict)
    references: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> case, grid
    borders: dict[str, list[NearEntry]] = field(default_factory=dict)

    def record(self, case_id: str) -> CaseRecord | None:
        return self.records.get(case_id)

    def save(self, record: CaseRecord) -> None:
        self.records[record.case.id] = record

    def case_of_report(self, report_id: str) -> str | None:
        return self.reports.get(report_id)

    def index_report(self, report_id: str, case_id: str) -> None:
        self.reports[report_id] = case_id

    def case_of_fold(self, key: str) -> str | None:
        return self.folds.get(key)

    def set_fold(self, key: str, case_id: str | None) -> None:
        if case_id is None:
            self.folds.pop(key, None)
        else:
            self.folds[key] = case_id

    def near(self, key: str) -> list[NearEntry]:
        return list(self.cells.get(key, []))

    def set_near(self, key: str, entries: list[NearEntry]) -> None:
        if entries:
            self.cells[key] = list(entries)
        else:
            self.cells.pop(key, None)

    def border(self, key: str) -> list[NearEntry]:
        return list(self.borders.get(key, []))

    def set_border(self, key: str, entries: list[NearEntry]) -> None:
        if entries:
            self.borders[key] = list(entries)
        else:
            self.borders.pop(key, None)

    def case_of_reference(self, key: str) -> str | None:
        found = self.references.get(key)
        return found[0] if found else None

    def grid_of_reference(self, key: str) -> str | None:
        """What the worker's reference index tells intake (see ``streams.logic.intake.cap``)."""
        found = self.references.get(key)
        return found[1] if found else None

    def publish_reference(self, key: str, case_id: str, grid_code: str) -> None:
        self.references[key] = (case_id, grid_code)
