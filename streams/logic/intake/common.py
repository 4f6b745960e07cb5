"""What every intake source shares: the refusal with its reason, reading an event's
data and placing a point on a grid.

Every source module (``grid``, ``citymgmt``, ``sensor``, ``cap``) places points with
:func:`place` (the district's rule, :mod:`routing.placement`) and builds its report
with :func:`routing.reports.build_report` — the one builder the gateway uses too —
so the sources differ only in how they read their own data.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError

from routing.district import District
from routing.placement import Placement, PlacementRefused
from schemas.envelope import Envelope, describe_validation_error
from schemas.reports import GeoPoint

_M = TypeVar("_M", bound=BaseModel)


class IntakeError(ValueError):
    """Why an inbound event becomes no report; ``reason`` names the field first
    (``data.location: outside every grid ...``) and goes to the DLQ headers."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def data_model(envelope: Envelope, model: type[_M]) -> _M:
    """The event's JSON object ``data`` validated as ``model``."""
    if not isinstance(envelope.data, dict):
        raise IntakeError("data: a JSON object is required")
    try:
        return model.model_validate(envelope.data)
    except ValidationError as exc:
        raise IntakeError("data." + describe_validation_error(exc)) from exc


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
