"""Faust's private names are used in ``streams/delivery.py`` and
``streams/tables.py`` only, so an upgrade has two files to re-check. (Which
modules may import which is checked by the import contracts in pyproject.toml.)"""

from __future__ import annotations

import re
from pathlib import Path

STREAMS = Path(__file__).parents[3] / "streams"


def modules(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


def test_fausts_private_names_stay_in_delivery_and_tables() -> None:
    private = re.compile(
        r"\._set_current_event|\._acked\b|\._gap\b|\._committed_offset|"
        r"\._unacked_messages|\._new_offset|\._new_transport|\._read_offset|"
        r"\._drain_messages|\._ensure_producer|\._key_partition|\._commit_offsets"
    )
    users = {path.name for path in modules(STREAMS) if private.search(path.read_text())}
    assert users <= {"delivery.py", "tables.py"}
