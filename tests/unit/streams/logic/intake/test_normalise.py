"""Intake by event type: every inbound type has its source module, in either Kafka
mode; unknown types and non-object data are refused; a batch normalises exactly
as its events one by one."""

from __future__ import annotations

import pytest

from routing.geo import wgs84_to_gcj02
from schemas.envelope import (
    CAP_ALERT,
    CITYMGMT_CASE,
    REPORT_SUBMITTED,
    SENSOR_ALARM,
    Envelope,
    encode_binary,
    encode_structured,
)
from streams.logic import intake
from streams.logic.intake import (
    IntakeError,
    normalise,
    normalise_batch,
)
from streams.logic.intake.common import IntakeError as CommonIntakeError
from tests.support.envelopes import (
    GRID,
    LATER,
    citymgmt,
    refused,
    report_envelope,
    sensor,
    source_envelope,
    via_kafka,
)


def test_every_inbound_type_has_its_source_module():
    assert IntakeError is CommonIntakeError
    assert set(intake.SOURCE_NORMALISERS) == {
        REPORT_SUBMITTED,
        CITYMGMT_CASE,
        SENSOR_ALARM,
        CAP_ALERT,
    }


def test_non_object_data_is_refused(district):
    assert (
        refused(source_envelope(SENSOR_ALARM, "gas!"), district)
        == "data: a JSON object is required"
    )
    assert "JSON object" in refused(source_envelope(CITYMGMT_CASE, [1, 2]), district)


@pytest.mark.parametrize("mode", [encode_structured, encode_binary])
def test_json_sources_arrive_in_either_kafka_mode(district, mode):
    for event in (citymgmt(), sensor()):
        assert normalise(via_kafka(event, mode), district, LATER) == normalise(
            event, district, LATER
        )


def test_unknown_types_are_still_refused(district):
    assert "unsupported event type" in refused(source_envelope("org.example.other", {}), district)


def test_unknown_event_type_is_refused(district):
    envelope = Envelope(id="1", source="s", type="com.example.other", data={})
    with pytest.raises(IntakeError, match="unsupported event type"):
        normalise(envelope, district, LATER)


def test_a_report_whose_data_is_not_an_object_is_refused(district):
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
