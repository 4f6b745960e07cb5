"""Routing rules (交办): category x area to a lead department and co-departments.

Rules are data (``routing.yaml``), tried in order; the first match wins. A rule
whose lead department is excluded (it returned the case as not its own) is
skipped, so a later rule can send the case elsewhere. No match: ``None``, and the
case stays in the operator's triage queue.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from routing import _loading as L


@dataclass(frozen=True)
class RoutingDecision:
    lead: str
    co: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()

    @property
    def departments(self) -> tuple[str, ...]:
        """Lead first, then the co-departments."""
        return (self.lead, *self.co)


@dataclass(frozen=True)
class Rule:
    number: int  # 1-based position in the file, quoted in reasons
    categories: frozenset[str]
    lead: str
    co: tuple[str, ...] = ()
    streets: frozenset[str] | None = None
    communities: frozenset[str] | None = None
    note: str = ""

    def matches(self, category: str, street_code: str | None, community_code: str | None) -> bool:
        return (
            category in self.categories
            and (self.streets is None or street_code in self.streets)
            and (self.communities is None or community_code in self.communities)
        )

    def describe(self, category: str, street_code: str | None, community_code: str | None) -> str:
        where = ""
        if self.communities is not None:
            where = f" in community {community_code}"
        elif self.streets is not None:
            where = f" in street {street_code}"
        return f"rule {self.number}: {category}{where} → {self.lead}"


def _area(entry: Mapping[str, Any], key: str, digits: int, where: str) -> frozenset[str] | None:
    if key not in entry:
        return None
    codes = L.text_list(entry[key], key, where)
    bad = [code for code in codes if not (code.isdigit() and len(code) == digits)]
    if not codes or bad:
        raise ValueError(f"{where}: `{key}` must list {digits}-digit codes (quoted strings)")
    return frozenset(codes)


def _rule(entry: Mapping[str, Any], number: int, where: str) -> Rule:
    categories = L.text_list(entry.get("category"), "category", where)
    if not categories:
        raise ValueError(f"{where}: `category` is required")
    return Rule(
        number=number,
        categories=frozenset(categories),
        lead=L.text(entry, "lead", where),
        co=L.text_list(entry.get("co"), "co", where),
        streets=_area(entry, "streets", 9, where),
        communities=_area(entry, "communities", 12, where),
        note=str(entry.get("note") or ""),
    )


class RoutingRules:
    def __init__(self, rules: list[Rule]) -> None:
        self._rules = tuple(rules)

    @classmethod
    def load(cls, path: Path) -> RoutingRules:
        return cls.from_data(L.read_yaml(path), str(path))

    @classmethod
    def from_data(cls, data: Mapping[str, Any], where: str) -> RoutingRules:
        items = L.entries(data, "rules", where)
        return cls([_rule(e, n, f"{where}: rule {n}") for n, e in enumerate(items, start=1)])

    def __iter__(self) -> Iterator[Rule]:
        return iter(self._rules)

    def __len__(self) -> int:
        return len(self._rules)

    def route(
        self,
        category: str,
        street_code: str | None,
        community_code: str | None,
        exclude: frozenset[str] = frozenset(),
    ) -> RoutingDecision | None:
        """The first matching rule whose lead is not excluded; ``None`` when none is left.

        Excluded departments are also dropped from the co-departments."""
        skipped: list[str] = []
        for rule in self._rules:
            if not rule.matches(category, street_code, community_code):
                continue
            if rule.lead in exclude:
                skipped.append(f"rule {rule.number}: skipped, {rule.lead} returned the case")
                continue
            co = tuple(dept for dept in rule.co if dept not in exclude and dept != rule.lead)
            reason = rule.describe(category, street_code, community_code)
            return RoutingDecision(lead=rule.lead, co=co, reasons=(*skipped, reason))
        return None
