"""A district's whole routing configuration, loaded and cross-checked in one go.

``District.load()`` reads the packaged synthetic demo district; a real deployment
points it at a directory with its own files of the same names.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from routing import _loading as L
from routing.grids import Grid, GridRegistry
from routing.hotspots import HotspotRule
from routing.notify import NOTIFY_FILE, NotifyRules
from routing.placement import Placement, PlacementRefused, place, place_many
from routing.priority import PriorityRules, assess_priority
from routing.rules import RoutingDecision, RoutingRules
from routing.sla import CalendarOverrides, SlaClock, SlaPolicy, WorkCalendar, load_policies
from routing.sources import SourceMappings
from routing.statuses import STATUS_FILE, StatusMap
from routing.taxonomy import Category, Taxonomy
from schemas.cases import Priority
from schemas.reports import GeoPoint

GRIDS_FILE = "grids.geojson"
TAXONOMY_FILE = "taxonomy.yaml"
DEPARTMENTS_FILE = "departments.yaml"
ROUTING_FILE = "routing.yaml"
CALENDAR_FILE = "calendar_overrides.yaml"  # optional
HOTSPOT_FILE = "hotspots.yaml"  # optional: the demo rule


def default_data_dir() -> Path:
    """The packaged synthetic demo district (``routing/data``)."""
    return Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class Department:
    code: str
    name_zh: str
    name_en: str


def load_departments(path: Path) -> dict[str, Department]:
    data = L.read_yaml(path)
    departments: dict[str, Department] = {}
    for n, entry in enumerate(L.entries(data, "departments", str(path)), start=1):
        where = f"{path}: department {n}"
        code = L.text(entry, "code", where)
        if code in departments:
            raise ValueError(f"{where}: duplicate department code {code!r}")
        departments[code] = Department(
            code, L.text(entry, "name_zh", where), L.text(entry, "name_en", where)
        )
    return departments


@dataclass(frozen=True, eq=False)
class District:
    taxonomy: Taxonomy
    grids: GridRegistry
    departments: Mapping[str, Department]
    rules: RoutingRules
    sla: Mapping[Priority, SlaPolicy]
    priority_rules: PriorityRules
    calendar: WorkCalendar
    sources: SourceMappings
    sla_scale: float = 1.0
    statuses: StatusMap = field(default_factory=StatusMap)
    hotspots: HotspotRule = field(default_factory=HotspotRule)
    notify: NotifyRules = field(default_factory=NotifyRules)

    @classmethod
    def load(cls, data_dir: Path | None = None, sla_scale: float = 1.0) -> District:
        """Load and cross-check every file; ``ValueError`` names the file and entry.
        ``sla_scale`` multiplies every SLA span (see :class:`routing.sla.SlaClock`)."""
        root = default_data_dir() if data_dir is None else Path(data_dir)
        routing_path = root / ROUTING_FILE
        routing_data = L.read_yaml(routing_path)
        district = cls(
            taxonomy=Taxonomy.load(root / TAXONOMY_FILE),
            grids=GridRegistry.load(root / GRIDS_FILE),
            departments=load_departments(root / DEPARTMENTS_FILE),
            rules=RoutingRules.from_data(routing_data, str(routing_path)),
            sla=load_policies(routing_data, str(routing_path)),
            priority_rules=PriorityRules.from_data(routing_data, str(routing_path)),
            calendar=WorkCalendar(_overrides(root / CALENDAR_FILE)),
            sources=SourceMappings.load(root),
            sla_scale=sla_scale,
            statuses=StatusMap.load(root / STATUS_FILE),
            hotspots=HotspotRule.load(root / HOTSPOT_FILE)
            if (root / HOTSPOT_FILE).exists()
            else HotspotRule.load(),
            notify=NotifyRules.load(root / NOTIFY_FILE),
        )
        district._check_rules(routing_path)
        district.sources.check(district.taxonomy)
        return district

    def reloaded(self, kind: str, path: Path) -> District:
        """A copy with one file loaded again (``grids``, ``routing`` or ``taxonomy``),
        cross-checked like :meth:`load`; ``ValueError`` names the file and entry."""
        match kind:
            case "grids":
                candidate = replace(self, grids=GridRegistry.load(path))
            case "taxonomy":
                candidate = replace(self, taxonomy=Taxonomy.load(path))
                candidate.sources.check(candidate.taxonomy)
            case "routing":
                data = L.read_yaml(path)
                candidate = replace(
                    self,
                    rules=RoutingRules.from_data(data, str(path)),
                    sla=load_policies(data, str(path)),
                    priority_rules=PriorityRules.from_data(data, str(path)),
                )
            case _:
                raise ValueError(f"unknown district data kind {kind!r}")
        candidate._check_rules(path)
        return candidate

    def take(self, other: District) -> None:
        """Take every part of ``other`` in place, so everyone holding this district
        (the worker's stages, the gateway's routes) sees the new data at once; the
        one mutation of a district, used by the live reload of its files."""
        for name in self.__dataclass_fields__:
            object.__setattr__(self, name, getattr(other, name))

    def _check_rules(self, path: Path) -> None:
        streets, communities = self.grids.streets(), self.grids.communities()
        for rule in self.rules:
            where = f"{path}: rule {rule.number}"
            for code in sorted(rule.categories):
                if code not in self.taxonomy:
                    raise ValueError(f"{where}: unknown category {code!r} (not in taxonomy)")
            for dept in (rule.lead, *rule.co):
                if dept not in self.departments:
                    raise ValueError(f"{where}: unknown department {dept!r}")
            for code in sorted(rule.streets or ()):
                if code not in streets:
                    raise ValueError(f"{where}: street {code} has no grid")
            for code in sorted(rule.communities or ()):
                if code not in communities:
                    raise ValueError(f"{where}: community {code} has no grid")

    @functools.cached_property
    def clock(self) -> SlaClock:
        return SlaClock(self.sla, self.calendar, self.sla_scale)

    def category(self, code: str) -> Category | None:
        return self.taxonomy.get(code)

    def locate(self, lat: float, lon: float) -> Grid | None:
        return self.grids.locate(lat, lon)

    def place(self, location: GeoPoint | None, grid_code: str | None) -> Placement:
        """See :func:`routing.placement.place`."""
        return place(self.grids, location, grid_code)

    def place_many(
        self, places: Sequence[tuple[GeoPoint | None, str | None]]
    ) -> list[Placement | PlacementRefused]:
        """See :func:`routing.placement.place_many`."""
        return place_many(self.grids, places)

    def route(
        self,
        category: str,
        street_code: str | None,
        community_code: str | None,
        exclude: frozenset[str] = frozenset(),
    ) -> RoutingDecision | None:
        return self.rules.route(category, street_code, community_code, exclude)

    def assess_priority(
        self,
        category: Category,
        description: str,
        report_count: int = 1,
        source_type: str | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> tuple[Priority, tuple[str, ...]]:
        return assess_priority(
            category, description, report_count, source_type, attributes, rules=self.priority_rules
        )

    def deadlines(self, priority: Priority, start: datetime) -> tuple[datetime, datetime]:
        """``(respond_by, resolve_by)`` in UTC."""
        return self.clock.deadlines(priority, start)

    def verify_by(self, priority: Priority, resolved_at: datetime) -> datetime:
        return self.clock.verify_by(priority, resolved_at)


def _overrides(path: Path) -> CalendarOverrides:
    return CalendarOverrides.load(path) if path.exists() else CalendarOverrides()
