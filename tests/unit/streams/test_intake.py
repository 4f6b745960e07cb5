"""Collect: normalisation of report CloudEvents, and the reasons bad ones get."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from routing.geo import wgs84_to_gcj02
from schemas.envelope import Envelope
from streams.logic.intake import IntakeError, derived_report_id, normalise, normalise_batch
from tests.unit.streams.conftest import GRID, WHEN, report_envelope
from tests.unit.streams.test_sources import citymgmt, sensor

LATER = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


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
    assert report.received_at == WHEN  # the event's time, not the record's


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


def test_unknown_event_type_is_refused(district):
    envelope = Envelope(id="1", source="s", type="com.example.other", data={})
    with pytest.raises(IntakeError, match="unsupported event type"):
        normalise(envelope, district, LATER)


def test_non_object_data_is_refused(district):
    envelope = report_envelope().model_copy(update={"data": "text"})
    with pytest.raises(IntakeError, match="JSON object"):
        normalise(envelope, district, LATER)


def test_a_batch_normalises_exactly_as_one_by_one(district):
    """The intake agent places a batch's points in one query: same reports, same
    refusals, in order, whatever the mix (sources, repeats, shared points, errors)."""
    grid = district.grids.get(GRID)
    centre = grid.polygon.representative_point()
    inside = {"lat": centre.y, "lon": centre.x}
    corner = grid.polygon.exterior.coords[0]  # a corner shared with neighbours
    shifted = wgs84_to_gcj02(centre.y, centre.x)
    envelopes = [
        report_envelope(grid_code=None, location=inside),
        report_envelope(grid_code=None, location=inside),  # the same point again
        report_envelope(grid_code=None, location={"lat": corner[1], "lon": corner[0]}),
        report_envelope(),  # grid code, no location
        report_envelope(grid_code=None, location={"lat": 10.0, "lon": 10.0}),
        report_envelope(category="no_such"),
        report_envelope().model_copy(update={"data": "text"}),
        report_envelope(
            grid_code=None, location={"lat": shifted[0], "lon": shifted[1], "crs": "gcj02"}
        ),
        citymgmt(),
        sensor(),
        Envelope(id="1", source="s", type="com.example.other", data={}),
    ]
    items = [(envelope, LATER) for envelope in envelopes]
    one_by_one: list[object] = []
    for envelope in envelopes:
        try:
            one_by_one.append(normalise(envelope, district, LATER))
        except IntakeError as exc:
            one_by_one.append(exc.reason)
    outcomes = normalise_batch(items, district)
    batch = [r.reason if isinstance(r, IntakeError) else r for r in outcomes]
    assert batch == one_by_one
    assert sum(isinstance(r, str) for r in batch) == 4
    assert normalise_batch([], district) == []
