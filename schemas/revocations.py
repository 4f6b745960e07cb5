"""The records of ``gridhub.token-revocations``: a revoked token or a disabled
principal, keyed ``token:<id>`` / ``principal:<id>`` (the topic is compacted:
one record per key is all that is kept, and all that is needed)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import orjson

Kind = Literal["token", "principal"]


@dataclass(frozen=True)
class Revocation:
    kind: Kind
    id: str
    at: datetime

    @property
    def key(self) -> bytes:
        return f"{self.kind}:{self.id}".encode()

    def value(self) -> bytes:
        return orjson.dumps({"kind": self.kind, "id": self.id, "at": self.at.isoformat()})


def parse_revocation(value: bytes | None) -> Revocation | None:
    """The revocation a record carries, or None for anything else."""
    if not value:
        return None
    try:
        doc = orjson.loads(value)
        kind, ident, at = doc["kind"], doc["id"], datetime.fromisoformat(doc["at"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
    if kind not in ("token", "principal") or not isinstance(ident, str) or not ident:
        return None
    return Revocation(kind, ident, at)
