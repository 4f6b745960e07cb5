"""Versioned loads of the district's data (grids, routing rules, categories), in
the database so every worker and gateway sees the same version.

``gridhub grids import`` (and ``gridhub rules import``) validate a file, then
:meth:`DistrictLoads.add` stores its text as the next version of its kind;
:meth:`DistrictLoads.latest` is what running processes poll to reload without a
restart; ``GET /api/v1/meta`` shows the versions in force. Table: migration
``sinks/migrations/versions/0004_public_feedback_channels.py``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Integer, String, Table, Text, UniqueConstraint, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from sinks.models import Base, JSONType

KINDS = ("grids", "routing", "taxonomy")


class DistrictLoad(Base):
    """One loaded file: the ``version``-th of its ``kind``."""

    __tablename__ = "district_loads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String)
    content: Mapped[str] = mapped_column(Text)
    summary: Mapped[dict[str, Any]] = mapped_column(JSONType)
    loaded_by: Mapped[str] = mapped_column(String)
    loaded_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("kind", "version"),)


district_loads: Table = Base.metadata.tables["district_loads"]


@dataclass(frozen=True)
class LoadRecord:
    kind: str
    version: int
    sha256: str
    filename: str
    content: str
    summary: dict[str, Any]
    loaded_by: str
    loaded_at: datetime

    def describe(self) -> dict[str, Any]:
        """What ``/api/v1/meta`` shows (not the content)."""
        return {
            "version": self.version,
            "sha256": self.sha256,
            "filename": self.filename,
            "summary": self.summary,
            "loaded_by": self.loaded_by,
            "loaded_at": self.loaded_at.isoformat(),
        }


class DistrictLoads:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(
        self,
        kind: str,
        filename: str,
        content: str,
        summary: dict[str, Any],
        loaded_by: str,
        now: datetime,
    ) -> LoadRecord:
        """Store ``content`` as the next version of ``kind`` (the same content as
        the current version is not a new version: that record is returned)."""
        if kind not in KINDS:
            raise ValueError(f"unknown district data kind {kind!r}; expected one of {KINDS}")
        digest = hashlib.sha256(content.encode()).hexdigest()
        for _ in range(3):  # two importers at once: the loser takes the next number
            current = self.latest(kind)
            if current is not None and current.sha256 == digest:
                return current
            version = (current.version if current else 0) + 1
            row: dict[str, Any] = {
                "kind": kind,
                "version": version,
                "sha256": digest,
                "filename": filename,
                "content": content,
                "summary": summary,
                "loaded_by": loaded_by,
                "loaded_at": now,
            }
            try:
                with self.engine.begin() as conn:
                    conn.execute(insert(district_loads).values(**row))
            except IntegrityError:
                continue
            return LoadRecord(**row)
        raise RuntimeError(f"could not store a new {kind} version: too many concurrent imports")

    def latest(self, kind: str) -> LoadRecord | None:
        t = district_loads
        query = (
            select(
                t.c.kind,
                t.c.version,
                t.c.sha256,
                t.c.filename,
                t.c.content,
                t.c.summary,
                t.c.loaded_by,
                t.c.loaded_at,
            )
            .where(t.c.kind == kind)
            .order_by(t.c.version.desc())
            .limit(1)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return LoadRecord(**dict(row)) if row is not None else None

    def versions(self) -> dict[str, int]:
        """The latest version number of each kind loaded so far."""
        t = district_loads
        with self.engine.connect() as conn:
            return {
                str(kind): int(v)
                for kind, v in conn.execute(
                    select(t.c.kind, func.max(t.c.version)).group_by(t.c.kind)
                )
            }
