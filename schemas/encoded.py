"""The JSON of a case snapshot, made once per snapshot for every writer in a process.

A case event's snapshot is written twice in the worker: into the event on
``gridhub.case-events`` and into the projection's ``cases.snapshot`` column.
:func:`snapshot_json` remembers the JSON of the snapshots it made lately by the
snapshot's identity (the entry holds the snapshot, so the identity is not
reused while it is kept; snapshots are frozen), so the second writer embeds the
same bytes (``orjson.Fragment``) instead of serialising again.
"""

from __future__ import annotations

from schemas.cases import CaseSnapshot

#: Snapshots remembered: a few batches' worth.
REMEMBERED = 4096

_made: dict[int, tuple[CaseSnapshot, bytes]] = {}


def snapshot_json(case: CaseSnapshot) -> bytes:
    """``case`` as JSON (pydantic's own serialisation of the snapshot)."""
    hit = _made.get(id(case))
    if hit is not None and hit[0] is case:
        return hit[1]
    made = case.__pydantic_serializer__.to_json(case)
    if len(_made) >= REMEMBERED:
        del _made[next(iter(_made))]  # dicts keep insertion order: the oldest first
    _made[id(case)] = (case, made)
    return made
