"""The fault suite: marks every test here ``faults`` (plus ``kafka``,
``postgres`` and ``e2e``), prints one table line per scenario in the terminal
summary and writes them as JSON to ``<pytest basetemp>/faults-summary.json``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults import harness

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            for name in ("faults", "kafka", "postgres", "e2e"):
                item.add_marker(getattr(pytest.mark, name))


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ARG001
    if not harness.RESULTS:
        return
    terminalreporter.section("fault scenarios")
    terminalreporter.write_line(harness.HEADER)
    for scenario in harness.RESULTS:
        terminalreporter.write_line(scenario.line())
    factory = getattr(config, "_tmp_path_factory", None)
    if factory is not None:
        path = factory.getbasetemp() / "faults-summary.json"
        harness.write_summary(path)
        terminalreporter.write_line(f"JSON summary: {path}")
