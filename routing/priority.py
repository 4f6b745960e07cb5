"""Priority P1 (most urgent) to P4 (DESIGN.md §2 Analyse), from rules kept as data.

Start from the category's default, then raise, never lower: by source type, by
CAP severity, by keywords in the description (zh and en), and one level for heat
(many reports on one case). Each raise is explained in a reason.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from routing import _loading as L
from routing.taxonomy import Category
from schemas.cases import Priority

ORDER: tuple[Priority, ...] = (Priority.P1, Priority.P2, Priority.P3, Priority.P4)
DEFAULT_HEAT_THRESHOLD = 3


def more_urgent(a: Priority, b: Priority) -> Priority:
    return a if ORDER.index(a) <= ORDER.index(b) else b


def raise_one(priority: Priority) -> Priority:
    return ORDER[max(0, ORDER.index(priority) - 1)]


def _keyword_pattern(keyword: str) -> re.Pattern[str]:
    """Chinese (or any non-ASCII) as a substring; English as whole words, plural s/es."""
    escaped = re.escape(keyword.casefold())
    if keyword.isascii():
        return re.compile(rf"(?<![a-z0-9]){escaped}(?:e?s)?(?![a-z0-9])")
    return re.compile(escaped)


@dataclass(frozen=True)
class KeywordRule:
    keywords: tuple[str, ...]
    priority: Priority
    reason: str
    _patterns: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)
    _any: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        patterns = tuple(map(_keyword_pattern, self.keywords))
        object.__setattr__(self, "_patterns", patterns)
        # One pass over the text answers "no keyword" — nearly every description;
        # only a hit pays for finding which keyword comes first in the rule's order.
        object.__setattr__(self, "_any", re.compile("|".join(p.pattern for p in patterns)))

    def first_match(self, folded_text: str) -> str | None:
        if self._any.search(folded_text) is None:
            return None
        for keyword, pattern in zip(self.keywords, self._patterns, strict=True):
            if pattern.search(folded_text):
                return keyword
        return None


@dataclass(frozen=True)
class PriorityRules:
    keyword_rules: tuple[KeywordRule, ...] = ()
    source_priority: Mapping[str, Priority] = field(default_factory=dict)
    cap_severity: Mapping[str, Priority] = field(default_factory=dict)
    heat_threshold: int = DEFAULT_HEAT_THRESHOLD

    @classmethod
    def load(cls, path: Path) -> PriorityRules:
        return cls.from_data(L.read_yaml(path), str(path))

    @classmethod
    def from_data(cls, data: Mapping[str, Any], where: str) -> PriorityRules:
        items = L.entries(data, "priority_rules", where) if "priority_rules" in data else []
        heat = data.get("heat_threshold", DEFAULT_HEAT_THRESHOLD)
        if isinstance(heat, bool) or not isinstance(heat, int) or heat < 2:
            raise ValueError(f"{where}: `heat_threshold` must be an integer >= 2")
        return cls(
            keyword_rules=tuple(
                _keyword_rule(e, f"{where}: priority_rules {n}")
                for n, e in enumerate(items, start=1)
            ),
            source_priority=_priority_map(data, "source_priority", where),
            cap_severity={
                k.casefold(): v for k, v in _priority_map(data, "cap_severity", where).items()
            },
            heat_threshold=heat,
        )


def _keyword_rule(entry: Mapping[str, Any], where: str) -> KeywordRule:
    keywords = L.text_list(entry.get("keywords"), "keywords", where)
    if not keywords:
        raise ValueError(f"{where}: `keywords` must not be empty")
    return KeywordRule(
        keywords=keywords,
        priority=L.priority(entry.get("priority"), "priority", where),
        reason=L.text(entry, "reason", where),
    )


def _priority_map(data: Mapping[str, Any], key: str, where: str) -> dict[str, Priority]:
    section = data.get(key) or {}
    if not isinstance(section, Mapping):
        raise ValueError(f"{where}: `{key}` must be a mapping")
    return {str(k): L.priority(v, f"{key}.{k}", where) for k, v in section.items()}


@functools.cache
def default_rules() -> PriorityRules:
    """The packaged demo district's rules (``routing/data/routing.yaml``)."""
    return PriorityRules.load(Path(__file__).parent / "data" / "routing.yaml")


class _Assessment:
    def __init__(self, start: Priority, reason: str) -> None:
        self.priority = start
        self.reasons = [reason]

    def raise_to(self, priority: Priority, reason: str) -> None:
        if more_urgent(priority, self.priority) != self.priority:
            self.priority = priority
            self.reasons.append(f"{priority.value}: {reason}")


def assess_priority(
    category: Category,
    description: str,
    report_count: int = 1,
    source_type: str | None = None,
    attributes: Mapping[str, Any] | None = None,
    *,
    rules: PriorityRules | None = None,
) -> tuple[Priority, tuple[str, ...]]:
    """The priority of a case and why. ``attributes`` may carry a CAP ``severity``
    (Extreme, Severe, ...). ``rules`` default to the packaged demo district's."""
    rules = default_rules() if rules is None else rules
    start = category.default_priority
    result = _Assessment(start, f"default {start.value} for {category.code}")
    if source_type is not None and source_type in rules.source_priority:
        result.raise_to(rules.source_priority[source_type], f"source {source_type}")
    severity = str((attributes or {}).get("severity") or "")
    if severity.casefold() in rules.cap_severity:
        result.raise_to(rules.cap_severity[severity.casefold()], f"CAP severity {severity}")
    folded = description.casefold()
    for rule in rules.keyword_rules:
        keyword = rule.first_match(folded)
        if keyword is not None:
            result.raise_to(rule.priority, f"keyword {keyword} ({rule.reason})")
    if report_count >= rules.heat_threshold:
        heat = f"heat, {report_count} reports (>= {rules.heat_threshold})"
        result.raise_to(raise_one(result.priority), heat)
    return result.priority, tuple(result.reasons)
