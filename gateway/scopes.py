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


def case_in_grids(scope: str | None, case: Mapping[str, Any]) -> bool:
    """A case is in a grid scope when its grid, or any grid it covers, is."""
    grids = [str(case.get("grid_code") or ""), *map(str, case.get("grid_codes") or ())]
    return any(grid and grid_in_scope(scope, grid) for grid in grids)


def role_sees_case(role: str, scope: str | None, case: Mapping[str, Any]) -> bool:
    """Whether a token of ``role``/``scope`` may see ``case`` at all: departments
    their own cases, grid workers the cases in their grids, the centre everything."""
    if role == "department":
        return bool(scope) and case_has_department(case, str(scope))
    if role == "grid_worker":
        return case_in_grids(scope, case)
    return role in ("operator", "leader", "admin")
