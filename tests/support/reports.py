"""Normalised reports for the case, hotspot and agent tests: plain ones at a time
and grid (hotspot windows), and grid reports placed by the intake rules near the
centre of a demo grid (near-duplicate merging)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from routing.district import District
from schemas.reports import Report, community_of, street_of
from streams.logic.intake import normalise
from tests.support.envelopes import GRID, LATER, report_envelope

OTHER_GRID = "990101001001002"
HOUR = timedelta(hours=1)
NINE = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)  # a window start (on the hour)
# Centre of grid 990101001001001 (lat 39.900-39.9045, lon 116.380-116.386).
LAT, LON = 39.9022, 116.3830
METRE_LAT = 1 / 111_320


def report_at(
    at: datetime,
    category: str = "garbage",
    grid: str = GRID,
    source: str = "urn:gridhub:gateway",
    report_id: str | None = None,
) -> Report:
    """A report received at ``at`` in ``grid``, without intake (hotspot tests)."""
    rid = report_id or str(uuid.uuid4())
    return Report(
        id=rid,
        source=source,
        source_event_id=rid,
        source_type="org.gridhub.report.submitted",
        category=category,
        description="垃圾满溢 overflowing bins",
        grid_code=grid,
        community_code=community_of(grid),
        street_code=street_of(grid),
        occurred_at=at,
        received_at=at,
    )


def burst(
    start: datetime, n: int, spacing: timedelta = timedelta(minutes=5), **kw: Any
) -> list[Report]:
    return [report_at(start + i * spacing, **kw) for i in range(n)]


def trickle(start: datetime, hours: int, per_hour: int, **kw: Any) -> list[Report]:
    """``per_hour`` reports in each of ``hours`` windows from ``start``."""
    step = HOUR / per_hour
    return [
        report_at(start + h * HOUR + i * step, **kw) for h in range(hours) for i in range(per_hour)
    ]


def nearby_report(district: District, minutes: int = 0, north_m: float = 0, **data: Any) -> Report:
    """A grid report ``north_m`` metres north of :data:`LAT`, :data:`LON`, made
    (and received by the hub) ``minutes`` after :data:`~tests.support.envelopes.LATER`,
    through intake."""
    envelope = report_envelope(
        grid_code=None, location={"lat": LAT + north_m * METRE_LAT, "lon": LON}, **data
    )
    at = LATER + timedelta(minutes=minutes)
    return normalise(envelope.model_copy(update={"time": at}), district, at)
