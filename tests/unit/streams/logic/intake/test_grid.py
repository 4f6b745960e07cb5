"""The grid worker's report: normalised from its submission, placed on its grid
(by code, by point, from GCJ-02), refused with the field at fault."""

from __future__ import annotations

import pytest

from routing.geo import wgs84_to_gcj02
from streams.logic.intake import (
    IntakeError,
    derived_report_id,
    normalise,
)
from tests.support.envelopes import (
    GRID,
    LATER,
    WHEN,
    report_envelope,
)


def test_grid_code_report_normalises(district):
    report = normalise(
        report_envelope(report_id="6f1d3c52-6a53-4e0e-9a49-1c0a3f7d2b10"), district, LATER
    )
    assert report.id == "6f1d3c52-6a53-4e0e-9a49-1c0a3f7d2b10"
    assert (report.grid_code, report.community_code, report.street_code) == (
        GRID,
        GRID[:12],
        GRID[:9],
    )
    assert report.received_at == LATER  # the hub's time (the record's), not the sender's
    assert report.occurred_at == WHEN  # the sender's, an hour old: kept


def test_location_is_located_in_its_grid(district):
    grid = district.grids.get(GRID)
    centre = grid.polygon.representative_point()
    report = normalise(
        report_envelope(grid_code=None, location={"lat": centre.y, "lon": centre.x}),
        district,
        LATER,
    )
    assert report.grid_code == GRID


def test_gcj02_location_is_converted_to_wgs84(district):
    centre = district.grids.get(GRID).polygon.representative_point()
    lat, lon = wgs84_to_gcj02(centre.y, centre.x)
    report = normalise(
        report_envelope(grid_code=None, location={"lat": lat, "lon": lon, "crs": "gcj02"}),
        district,
        LATER,
    )
    assert report.grid_code == GRID
    assert report.location is not None and report.location.crs == "wgs84"
    assert abs(report.location.lat - centre.y) < 1e-5


def test_without_client_id_the_report_id_derives_from_source_and_id(district):
    envelope = report_envelope()
    first = normalise(envelope, district, LATER)
    again = normalise(envelope, district, LATER)
    assert first.id == again.id == derived_report_id(envelope)


def test_record_time_used_when_event_has_none(district):
    envelope = report_envelope().model_copy(update={"time": None})
    assert normalise(envelope, district, LATER).received_at == LATER


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"category": "no_such"}, "data.category: unknown category"),
        ({"grid_code": "990101999999999"}, "data.grid_code"),
        ({"grid_code": None, "location": {"lat": 10.0, "lon": 10.0}}, "outside every grid"),
        ({"description": ""}, "data.description"),
        ({"unexpected": 1}, "data.unexpected"),
    ],
)
def test_bad_reports_are_refused_with_a_reason(district, data, needle):
    with pytest.raises(IntakeError) as caught:
        normalise(report_envelope(**data), district, LATER)
    assert needle in caught.value.reason
