"""Reading the data files beside the package, with errors that name the file and entry."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from schemas.cases import Priority


def read_yaml(path: Path) -> dict[str, Any]:
    """The top-level mapping of a YAML file; ``ValueError`` naming the file otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    try:
        data = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError) as exc:  # a bad date such as 2027-13-01 is a ValueError
        raise ValueError(f"{path}: not valid YAML ({exc})") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the top level must be a mapping")
    return data


def entries(data: Mapping[str, Any], key: str, where: str) -> list[Mapping[str, Any]]:
    """A list of mappings under ``key``; each item must itself be a mapping."""
    items = data.get(key)
    if not isinstance(items, list):
        raise ValueError(f"{where}: `{key}` must be a list")
    for index, item in enumerate(items, start=1):
        if not isinstance(item, Mapping):
            raise ValueError(f"{where}: {key} entry {index} must be a mapping")
    return items


def text(entry: Mapping[str, Any], key: str, where: str) -> str:
    """A required non-empty string field."""
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}: `{key}` must be a non-empty string")
    return value.strip()


def text_list(value: Any, key: str, where: str) -> tuple[str, ...]:
    """A string or a list of strings (``None`` is the empty tuple)."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{where}: `{key}` must be a string or a list of strings")
    return tuple(v.strip() for v in value)


def priority(value: Any, key: str, where: str) -> Priority:
    """A priority name, ``P1`` (most urgent) to ``P4``."""
    try:
        return Priority(str(value))
    except ValueError:
        raise ValueError(f"{where}: `{key}` must be one of P1, P2, P3, P4, not {value!r}") from None


def number(entry: Mapping[str, Any], key: str, where: str, default: float | None = None) -> float:
    """A positive number field (``default`` when absent, required when no default)."""
    value = entry.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError(f"{where}: `{key}` must be a positive number, not {value!r}")
    return float(value)
