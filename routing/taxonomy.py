"""The case taxonomy: which categories exist, their names, kind and default priority."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from routing import _loading as L
from schemas.cases import Priority
from schemas.reports import CATEGORY_PATTERN

Kind = Literal["component", "event"]
KINDS: tuple[Kind, ...] = ("component", "event")  # 部件, 事件
DEFAULT_DEDUP_RADIUS_M = 200.0
_CODE = re.compile(CATEGORY_PATTERN)


@dataclass(frozen=True)
class Category:
    code: str
    name_zh: str
    name_en: str
    kind: Kind
    default_priority: Priority
    dedup_radius_m: float = DEFAULT_DEDUP_RADIUS_M
    keywords: tuple[str, ...] = ()
    # Whether its cases may be shown to anyone (Open311 reads, /public/, the
    # bulletin): only when the district says so; disputes, police and domestic
    # matters never.
    public: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name_zh": self.name_zh,
            "name_en": self.name_en,
            "kind": self.kind,
            "default_priority": self.default_priority.value,
            "public": self.public,
        }

    def matches(self, query: str) -> bool:
        """Whether ``query`` (case-insensitive) occurs in the code, a name or a keyword."""
        needle = query.strip().casefold()
        haystack = (self.code, self.name_zh, self.name_en, *self.keywords)
        return bool(needle) and any(needle in item.casefold() for item in haystack)


def _category(entry: Mapping[str, Any], where: str) -> Category:
    code = L.text(entry, "code", where)
    where = f"{where} ({code})"
    if not _CODE.match(code):
        raise ValueError(f"{where}: code must match {CATEGORY_PATTERN}")
    kind = entry.get("kind")
    if kind not in KINDS:
        raise ValueError(f"{where}: `kind` must be one of {', '.join(KINDS)}, not {kind!r}")
    return Category(
        code=code,
        name_zh=L.text(entry, "name_zh", where),
        name_en=L.text(entry, "name_en", where),
        kind=kind,
        default_priority=L.priority(entry.get("default_priority"), "default_priority", where),
        dedup_radius_m=L.number(entry, "dedup_radius_m", where, DEFAULT_DEDUP_RADIUS_M),
        keywords=L.text_list(entry.get("keywords"), "keywords", where),
        public=_flag(entry, "public", where),
    )


def _flag(entry: Mapping[str, Any], key: str, where: str) -> bool:
    value = entry.get(key, False)  # private unless the district says otherwise
    if not isinstance(value, bool):
        raise ValueError(f"{where}: `{key}` must be true or false, not {value!r}")
    return value


class Taxonomy:
    """Categories in file order, looked up by code."""

    def __init__(self, categories: list[Category]) -> None:
        self._by_code: dict[str, Category] = {}
        for category in categories:
            if category.code in self._by_code:
                raise ValueError(f"duplicate category code {category.code!r}")
            self._by_code[category.code] = category

    @classmethod
    def load(cls, path: Path) -> Taxonomy:
        data = L.read_yaml(path)
        items = L.entries(data, "categories", str(path))
        categories = [
            _category(entry, f"{path}: category {n}") for n, entry in enumerate(items, start=1)
        ]
        try:
            return cls(categories)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None

    def get(self, code: str) -> Category | None:
        return self._by_code.get(code)

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def __iter__(self) -> Iterator[Category]:
        return iter(self._by_code.values())

    def __len__(self) -> int:
        return len(self._by_code)

    def all(self) -> tuple[Category, ...]:
        return tuple(self._by_code.values())

    def codes(self) -> tuple[str, ...]:
        return tuple(self._by_code)

    def search(self, query: str) -> list[Category]:
        """Categories whose code, names or keywords contain ``query``."""
        return [category for category in self if category.matches(query)]

    def as_json(self) -> list[dict[str, Any]]:
        """The body of ``GET /api/v1/categories``."""
        return [category.as_json() for category in self]
