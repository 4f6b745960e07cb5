"""Token scopes: which grids a grid worker covers, which cases a department sees."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_SEPARATORS = re.compile(r"[\s,;]+")


def scope_parts(scope: str | None) -> list[str]:
    """A scope is one code or several separated by commas/spaces (grid codes,
    12-digit community codes or any code prefix)."""
    return [part for part in _SEPARATORS.split(scope or "") if part]


def grid_in_scope(scope: str | None, grid_code: str) -> bool:
    """No scope means the whole district."""
    parts = scope_parts(scope)
    return not parts or any(grid_code.startswith(part) for part in parts)


def case_has_department(case: Mapping[str, Any], department: str) -> bool:
    departments = case.get("departments") or ()
    return case.get("lead_department") == department or department in departments
