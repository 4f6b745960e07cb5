"""Status codes other systems file our cases under: a table in data
(``source_statuses.yaml``) from case state to each source system's own status
code and name, so outbound case events for a case a source opened say its status
in that source's words (a 数字城管 platform files ``50 结案``, not ``closed``).

A source is matched by its CloudEvents ``source`` (exact, or an ``fnmatch``
pattern such as ``urn:system:citymgmt*``), first match wins. A source without a
table, or a state its table leaves out, gets the state itself as its code.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from routing import _loading as L
from schemas.cases import CaseState

STATUS_FILE = "source_statuses.yaml"
_STATES = frozenset(s.value for s in CaseState)


@dataclass(frozen=True)
class SourceStatus:
    code: str
    name: str

    def as_json(self) -> dict[str, str]:
        return {"code": self.code, "name": self.name}


@dataclass(frozen=True)
class StatusTable:
    pattern: str
    system: str
    statuses: Mapping[str, SourceStatus]


@dataclass(frozen=True)
class StatusMap:
    tables: tuple[StatusTable, ...] = field(default=())

    @classmethod
    def load(cls, path: Path) -> StatusMap:
        if not path.exists():
            return cls()
        data = L.read_yaml(path)
        tables = []
        for n, entry in enumerate(L.entries(data, "sources", str(path)), start=1):
            where = f"{path}: source {n}"
            statuses = entry.get("statuses")
            if not isinstance(statuses, Mapping) or not statuses:
                raise ValueError(f"{where}: `statuses` must map case states to codes")
            table: dict[str, SourceStatus] = {}
            for state, value in statuses.items():
                if state not in _STATES:
                    raise ValueError(f"{where}: unknown case state {state!r}")
                if not isinstance(value, Mapping):
                    raise ValueError(f"{where}: {state}: expected {{code, name}}")
                table[str(state)] = SourceStatus(
                    code=L.text(value, "code", f"{where}: {state}"),
                    name=L.text(value, "name", f"{where}: {state}"),
                )
            tables.append(
                StatusTable(
                    pattern=L.text(entry, "match", where),
                    system=str(entry.get("system") or ""),
                    statuses=table,
                )
            )
        return cls(tuple(tables))

    def status(self, source: str, state: str) -> SourceStatus:
        """The status ``source`` files a case in ``state`` under."""
        for table in self.tables:
            if table.pattern == source or fnmatch.fnmatchcase(source, table.pattern):
                found = table.statuses.get(state)
                if found is not None:
                    return found
                break
        return SourceStatus(code=state, name=state)
