"""The district's data loaded while the hub runs: ``gridhub grids import`` /
``gridhub rules import`` check a file and store it as the next version
(:class:`sinks.district_loads.DistrictLoads`); every worker and gateway polls
for newer versions and takes them in place (:meth:`routing.district.District.take`),
so a valid import takes effect without a restart. A load that fails its
checks in a running process (it passed them at import) is logged and skipped:
the process keeps the data it has.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import logging
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from routing.district import GRIDS_FILE, ROUTING_FILE, TAXONOMY_FILE, District
from routing.gridcheck import AREAS_FILE, Problem, areas_of, check, load_areas
from sinks.district_loads import KINDS, DistrictLoads, LoadRecord

log = logging.getLogger(__name__)

FILE_OF = {"grids": GRIDS_FILE, "routing": ROUTING_FILE, "taxonomy": TAXONOMY_FILE}


class ImportRefused(ValueError):
    """The file is not loaded: ``problems`` says where and why."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


def _candidate(district: District, kind: str, content: str) -> District:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / FILE_OF[kind]
        path.write_text(content, encoding="utf-8")
        return district.reloaded(kind, path)


def validate(
    district: District,
    kind: str,
    content: str,
    rules_dir: Path | None,
    overlap_tolerance: float | None = None,
) -> dict[str, Any]:
    """Check ``content`` as the district's ``kind`` file; the load's summary, or
    :class:`ImportRefused` with every problem found."""
    if kind not in KINDS:
        raise ValueError(f"unknown district data kind {kind!r}; expected one of {KINDS}")
    if kind == "grids":
        try:
            data = json.loads(content)
        except json.JSONDecodeError as exc:
            raise ImportRefused([Problem("file", f"not JSON: {exc}")]) from exc
        known = load_areas(rules_dir / AREAS_FILE) if rules_dir else None
        known = known or areas_of(district.grids)
        tolerance = {} if overlap_tolerance is None else {"overlap_tolerance": overlap_tolerance}
        registry, problems = check(data, known, **tolerance)
        if registry is None:
            raise ImportRefused(problems)
    try:
        candidate = _candidate(district, kind, content)
    except ValueError as exc:
        raise ImportRefused([Problem(FILE_OF[kind], str(exc))]) from exc
    return {
        "grids": len(candidate.grids),
        "streets": len(candidate.grids.streets()),
        "communities": len(candidate.grids.communities()),
        "categories": len(list(candidate.taxonomy)),
        "rules": len(list(candidate.rules)),
    }


def import_file(
    engine: Engine,
    district: District,
    kind: str,
    path: Path,
    rules_dir: Path | None,
    overlap_tolerance: float | None = None,
) -> LoadRecord:
    """Check and store ``path`` as the next version of ``kind``."""
    content = path.read_text(encoding="utf-8")
    summary = validate(district, kind, content, rules_dir, overlap_tolerance)
    return DistrictLoads(engine).add(kind, path.name, content, summary, _who(), datetime.now(UTC))


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@dataclass
class DistrictSync:
    """Polls the stored loads and applies newer versions to ``district`` in place."""

    engine: Engine
    district: District
    interval: float = 5.0
    applied: dict[str, LoadRecord] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None

    def apply_new(self) -> list[str]:
        """Apply every kind whose stored version is newer than the one applied;
        returns the kinds applied."""
        loads = DistrictLoads(self.engine)
        done = []
        for kind, version in sorted(loads.versions().items()):
            current = self.applied.get(kind)
            if current is not None and current.version >= version:
                continue
            record = loads.latest(kind)
            if record is None:
                continue
            try:
                self.district.take(_candidate(self.district, kind, record.content))
            except ValueError as exc:
                log.error("district %s version %d not applied: %s", kind, record.version, exc)
                self.applied[kind] = record  # do not retry a load that cannot apply
                continue
            self.applied[kind] = record
            done.append(kind)
            log.info("district %s version %d applied (%s)", kind, record.version, record.filename)
        return done

    def versions(self) -> dict[str, Any]:
        """What ``/api/v1/meta`` shows: per kind, the load in force here, or the files."""
        return {
            kind: self.applied[kind].describe() if kind in self.applied else {"version": 0}
            for kind in KINDS
        }

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await asyncio.to_thread(self.apply_new)
            except Exception as exc:  # the database may be away: keep what we have
                log.warning("district data poll failed: %s", exc)

    async def start(self) -> None:
        try:
            await asyncio.to_thread(self.apply_new)
        except Exception as exc:
            log.warning("district data poll failed: %s", exc)
        self._task = asyncio.create_task(self._run(), name="district-sync")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
