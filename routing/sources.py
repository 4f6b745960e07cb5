"""Mappings from other systems' codes to the GridHub taxonomy: 数字城管 部件/事件
codes, IoT sensor metrics and CAP 1.2 events (DESIGN.md §2 Collect).

Data, not code: ``citymgmt_codes.yaml``, ``sensor_metrics.yaml`` and
``cap_events.yaml`` beside the other district files (synthetic for the demo
district). Lookups return ``None`` for a code nobody mapped, so the caller can
refuse the event with a reason; CAP alerts always map (the file has a default).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

from routing import _loading as L
from routing.taxonomy import KINDS, Kind, Taxonomy
from schemas.sources import CapCategory

CITYMGMT_FILE = "citymgmt_codes.yaml"
SENSOR_FILE = "sensor_metrics.yaml"
CAP_FILE = "cap_events.yaml"
SOURCE_FILES = (CITYMGMT_FILE, SENSOR_FILE, CAP_FILE)

_CITYMGMT_CODE = re.compile(r"^\d{4}(\d{2})?$")
_METRIC = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_CAP_CATEGORIES: frozenset[str] = frozenset(get_args(CapCategory))


@dataclass(frozen=True)
class CitymgmtCode:
    """One row of the 数字城管 code table."""

    kind: Kind
    code: str
    group: str
    name_zh: str
    category: str


@dataclass(frozen=True)
class SensorMetric:
    metric: str
    category: str
    name_zh: str
    unit: str


def _keyword_pattern(keyword: str) -> re.Pattern[str]:
    """Chinese (or any non-ASCII) as a substring; English as whole words, plural s/es."""
    escaped = re.escape(keyword.casefold())
    if keyword.isascii():
        return re.compile(rf"(?<![a-z0-9]){escaped}(?:e?s)?(?![a-z0-9])")
    return re.compile(escaped)


@dataclass(frozen=True)
class CapEventRule:
    category: str
    keywords: tuple[str, ...]
    _patterns: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_patterns", tuple(map(_keyword_pattern, self.keywords)))

    def matches(self, folded_text: str) -> bool:
        return any(pattern.search(folded_text) for pattern in self._patterns)


@dataclass(frozen=True)
class SourceMappings:
    citymgmt_codes: Mapping[tuple[str, str], CitymgmtCode]  # by (kind, code)
    sensor_metrics: Mapping[str, SensorMetric]
    cap_event_rules: tuple[CapEventRule, ...]
    cap_categories: Mapping[str, str]
    cap_default: str
    # (file and entry, category) of every mapping, for the taxonomy cross-check.
    category_refs: tuple[tuple[str, str], ...] = field(default=(), repr=False, compare=False)

    @classmethod
    def load(cls, data_dir: Path) -> SourceMappings:
        """Read the three files in ``data_dir``; ``ValueError`` names the file and entry."""
        refs: list[tuple[str, str]] = []
        citymgmt = _load_citymgmt(data_dir / CITYMGMT_FILE, refs)
        metrics = _load_metrics(data_dir / SENSOR_FILE, refs)
        rules, categories, default = _load_cap(data_dir / CAP_FILE, refs)
        return cls(citymgmt, metrics, rules, categories, default, tuple(refs))

    def check(self, taxonomy: Taxonomy) -> None:
        """Every mapped category must exist in the taxonomy."""
        for where, category in self.category_refs:
            if category not in taxonomy:
                raise ValueError(f"{where}: unknown category {category!r} (not in taxonomy)")

    def citymgmt(self, kind: str, code: str) -> CitymgmtCode | None:
        """The row of a 数字城管 code: the code itself, else its 4-digit subclass."""
        row = self.citymgmt_codes.get((kind, code))
        if row is None and len(code) > 4:
            row = self.citymgmt_codes.get((kind, code[:4]))
        return row

    def citymgmt_category(self, kind: str, code: str) -> str | None:
        row = self.citymgmt(kind, code)
        return None if row is None else row.category

    def sensor_metric(self, metric: str) -> SensorMetric | None:
        return self.sensor_metrics.get(metric)

    def sensor_category(self, metric: str) -> str | None:
        found = self.sensor_metrics.get(metric)
        return None if found is None else found.category

    def cap_category(self, texts: Iterable[str | None], cap_categories: Iterable[str]) -> str:
        """The category of a CAP alert: keyword rules on each text in turn (event,
        then headline, then description), then its CAP categories, else the default."""
        for text in texts:
            if not text:
                continue
            folded = text.casefold()
            for rule in self.cap_event_rules:
                if rule.matches(folded):
                    return rule.category
        for cap_category in cap_categories:
            mapped = self.cap_categories.get(cap_category)
            if mapped is not None:
                return mapped
        return self.cap_default

    def metrics(self) -> Iterator[SensorMetric]:
        return iter(self.sensor_metrics.values())


def _load_citymgmt(path: Path, refs: list[tuple[str, str]]) -> dict[tuple[str, str], CitymgmtCode]:
    data = L.read_yaml(path)
    rows: dict[tuple[str, str], CitymgmtCode] = {}
    for n, entry in enumerate(L.entries(data, "codes", str(path)), start=1):
        where = f"{path}: code {n}"
        kind = entry.get("kind")
        if kind not in KINDS:
            raise ValueError(f"{where}: `kind` must be one of {', '.join(KINDS)}, not {kind!r}")
        code = L.text(entry, "code", where)
        if not _CITYMGMT_CODE.match(code):
            raise ValueError(f"{where}: `code` must be 4 or 6 digits (quote it), not {code!r}")
        where = f"{where} ({kind} {code})"
        if (kind, code) in rows:
            raise ValueError(f"{where}: duplicate code")
        row = CitymgmtCode(
            kind=kind,
            code=code,
            group=L.text(entry, "group", where),
            name_zh=L.text(entry, "name_zh", where),
            category=L.text(entry, "category", where),
        )
        rows[(kind, code)] = row
        refs.append((where, row.category))
    return rows


def _load_metrics(path: Path, refs: list[tuple[str, str]]) -> dict[str, SensorMetric]:
    data = L.read_yaml(path)
    metrics: dict[str, SensorMetric] = {}
    for n, entry in enumerate(L.entries(data, "metrics", str(path)), start=1):
        where = f"{path}: metric {n}"
        name = L.text(entry, "metric", where)
        if not _METRIC.match(name):
            raise ValueError(f"{where}: `metric` must match {_METRIC.pattern}, not {name!r}")
        where = f"{where} ({name})"
        if name in metrics:
            raise ValueError(f"{where}: duplicate metric")
        metric = SensorMetric(
            metric=name,
            category=L.text(entry, "category", where),
            name_zh=L.text(entry, "name_zh", where),
            unit=L.text(entry, "unit", where),
        )
        metrics[name] = metric
        refs.append((where, metric.category))
    return metrics


def _load_cap(
    path: Path, refs: list[tuple[str, str]]
) -> tuple[tuple[CapEventRule, ...], dict[str, str], str]:
    data = L.read_yaml(path)
    rules: list[CapEventRule] = []
    items = L.entries(data, "events", str(path)) if "events" in data else []
    for n, entry in enumerate(items, start=1):
        where = f"{path}: event rule {n}"
        keywords = L.text_list(entry.get("keywords"), "keywords", where)
        if not keywords:
            raise ValueError(f"{where}: `keywords` must not be empty")
        rule = CapEventRule(category=L.text(entry, "category", where), keywords=keywords)
        rules.append(rule)
        refs.append((where, rule.category))
    categories = _cap_categories(data.get("categories"), path, refs)
    default = L.text(data, "default", str(path))
    refs.append((f"{path}: default", default))
    return tuple(rules), categories, default


def _cap_categories(section: Any, path: Path, refs: list[tuple[str, str]]) -> dict[str, str]:
    if section is None:
        return {}
    if not isinstance(section, Mapping):
        raise ValueError(f"{path}: `categories` must be a mapping of CAP category to category")
    mapped: dict[str, str] = {}
    for key, value in section.items():
        where = f"{path}: categories.{key}"
        if key not in _CAP_CATEGORIES:
            known = ", ".join(sorted(_CAP_CATEGORIES))
            raise ValueError(f"{where}: not a CAP 1.2 category ({known})")
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{where}: must be a taxonomy code")
        mapped[key] = value.strip()
        refs.append((where, mapped[key]))
    return mapped
