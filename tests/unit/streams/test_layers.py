"""``streams/`` has two halves (DESIGN.md §4): the pure decisions under
``streams/logic`` import no Faust, Kafka client, database, ``sinks`` or
``gateway`` (nor the runtime half beside them); Faust's private names are used in
``streams/delivery.py`` and ``streams/tables.py`` only; agents import neither the
app that assembles them nor each other."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

STREAMS = Path(__file__).parents[3] / "streams"
FORBIDDEN_IN_LOGIC = (
    "faust",
    "mode",
    "aiokafka",
    "kafka",
    "sqlalchemy",
    "sinks",
    "gateway",
    "gridhub",
)


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def modules(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


@pytest.mark.parametrize("path", modules(STREAMS / "logic"), ids=lambda p: p.name)
def test_the_pure_half_imports_no_runtime(path: Path) -> None:
    for name in imported(path):
        root = name.split(".")[0]
        assert root not in FORBIDDEN_IN_LOGIC, f"{path}: imports {name}"
        if root == "streams":
            assert name.startswith("streams.logic"), f"{path}: imports the runtime {name}"


def test_fausts_private_names_stay_in_delivery_and_tables() -> None:
    private = re.compile(
        r"\._set_current_event|\._acked\b|\._gap\b|\._committed_offset|"
        r"\._unacked_messages|\._new_offset|\._new_transport|\._read_offset"
    )
    users = {path.name for path in modules(STREAMS) if private.search(path.read_text())}
    assert users <= {"delivery.py", "tables.py"}


@pytest.mark.parametrize("path", modules(STREAMS / "agents"), ids=lambda p: p.name)
def test_agents_import_neither_the_app_nor_each_other(path: Path) -> None:
    for name in imported(path):
        assert name != "streams.app" and not name.startswith("streams.agents"), (
            f"{path}: imports {name}"
        )
