"""The steps every command handler ends with: the record saved with the event's
snapshot (and, for a case that stops collecting reports, its indexes cleared)."""

from __future__ import annotations

from typing import Any

from schemas.cases import CaseAction, CaseEvent
from streams.logic.casestore import CaseRecord
from streams.logic.casework import CaseWork


def store(work: CaseWork, record: CaseRecord, event: CaseEvent, **more: Any) -> CaseRecord:
    """Save the record with the event's snapshot (and ``more`` record fields)."""
    updated = record.model_copy(update={"case": event.case, **more})
    work.store.save(updated)
    return updated


def save(work: CaseWork, record: CaseRecord, event: CaseEvent, **more: Any) -> list[CaseEvent]:
    store(work, record, event, **more)
    return [event]


def finish(work: CaseWork, record: CaseRecord, event: CaseEvent) -> list[CaseEvent]:
    """A terminal or closing change: the case stops collecting reports."""
    store(work, work.unregister(record), event)
    return [event]


def note_of(body: CaseAction) -> dict[str, Any]:
    """The note and photos of an action, as event data (only those given)."""
    return {k: v for k, v in (("note", body.note), ("media", body.media or None)) if v}
