"""What every intake source shares: the refusal with its reason, derived report
ids, event time, placing a point on a grid and the one ``Report`` builder.

Every source module (``grid``, ``citymgmt``, ``sensor``, ``cap``) builds its
report with :func:`build_report` and places points with :func:`place` (the
district's rule, :mod:`routing.placement`), so the sources differ only in how
they read their own data.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from routing.district import District
from routing.placement import Placement, PlacementRefused
from schemas.envelope import Envelope, describe_validation_error
from schemas.reports import (
    MAX_DESCRIPTION,
    GeoPoint,
    Report,
    Reporter,
    community_of,
    street_of,
)

# Report ids of sources that do not send their own are derived from the
# CloudEvents source + id, so the same event always maps to the same report.
REPORT_ID_NAMESPACE = uuid.UUID("6f1d3c52-6a53-4e0e-9a49-1c0a3f7d2b10")

_M = TypeVar("_M", bound=BaseModel)


class IntakeError(ValueError):
    """Why an inbound event becomes no report; ``reason`` names the field first
    (``data.location: outside every grid ...``) and goes to the DLQ headers."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def derived_report_id(envelope: Envelope) -> str:
    return str(uuid.uuid5(REPORT_ID_NAMESPACE, envelope.dedup_key))


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def event_time(envelope: Envelope, received_at: datetime) -> datetime:
    """The event's ``time``, else the Kafka record time (so a replay normalises alike)."""
    return aware(envelope.time) if envelope.time else received_at


def data_model(envelope: Envelope, model: type[_M]) -> _M:
    """The event's JSON object ``data`` validated as ``model``."""
    if not isinstance(envelope.data, dict):
        raise IntakeError("data: a JSON object is required")
    try:
        return model.model_validate(envelope.data)
    except ValidationError as exc:
        raise IntakeError("data." + describe_validation_error(exc)) from exc


def clip(text: str, limit: int = MAX_DESCRIPTION) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def refused_place(refusal: PlacementRefused) -> IntakeError:
    """A placement refusal in the words of a dead letter (``data.<field>: reason``)."""
    where = f"data.{refusal.field}" if refusal.field else "data"
    return IntakeError(f"{where}: {refusal.reason}")


def place(district: District, location: GeoPoint | None, grid_code: str | None) -> Placement:
    """The grid of a source's place (and the point in WGS84), or an :class:`IntakeError`."""
    try:
        return district.place(location, grid_code)
    except PlacementRefused as refusal:
        raise refused_place(refusal) from refusal


def build_report(
    envelope: Envelope,
    received_at: datetime,
    *,
    report_id: str,
    category: str,
    description: str,
    location: GeoPoint | None,
    grid_code: str,
    occurred_at: datetime,
    attributes: dict[str, Any] | None = None,
    reporter: Reporter | None = None,
    external_ref: str | None = None,
    media: Iterable[str] = (),
) -> Report:
    """The one normalised ``Report`` of an inbound event, whatever its source."""
    submitted_by = envelope.extensions.get("submittedby")
    return Report(
        id=report_id,
        source=envelope.source,
        source_event_id=envelope.id,
        source_type=envelope.type,
        category=category,
        description=clip(description),
        location=location,
        grid_code=grid_code,
        community_code=community_of(grid_code),
        street_code=street_of(grid_code),
        occurred_at=aware(occurred_at),
        received_at=event_time(envelope, received_at),
        media=list(media),
        reporter=reporter,
        submitted_by=str(submitted_by) if submitted_by else None,
        attributes=attributes or {},
        external_ref=external_ref,
    )
