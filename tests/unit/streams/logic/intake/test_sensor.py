"""IoT sensor alarms become reports: the metric decides the category, alarms of one
device fold into one case; a bad alarm names its field."""

from __future__ import annotations

import orjson
import pytest

from routing.provenance import natural_key
from schemas.cases import Priority
from streams.logic.intake import (
    derived_report_id,
    normalise,
)
from tests.support.envelopes import (
    LATER,
    refused,
    sensor,
)


def test_sensor_alarm_normalises(district):
    event = sensor()
    report = normalise(event, district, LATER)
    assert report.category == "gas_smell"
    assert report.id == derived_report_id(event)
    assert report.grid_code == "990101002001003"
    assert report.external_ref is None
    assert report.attributes == {
        "fold_key": natural_key("sensor", "urn:iot:gas", "gas-0042"),
        "device_id": "gas-0042",
        "metric": "gas_ppm",
        "reading": 1250.0,
        "threshold": 1000.0,
        "unit": "ppm",
        "above_threshold": True,
    }
    assert report.description == "可燃气体浓度超限：1250 ppm（阈值 1000 ppm）"
    orjson.dumps(report.attributes)


def test_sensor_alarms_of_one_device_share_a_fold_key(district):
    first = normalise(sensor(), district, LATER)
    second = normalise(sensor(reading=1500.0), district, LATER)
    assert first.id != second.id
    assert first.attributes["fold_key"] == second.attributes["fold_key"]


def test_sensor_below_threshold_is_kept_and_flagged(district):
    report = normalise(
        sensor(metric="water_level_cm", reading=12, threshold=20, unit="cm", message="水位异常"),
        district,
        LATER,
    )
    assert report.category == "flooding"
    assert report.attributes["above_threshold"] is False
    assert report.description == "水位异常"


def test_sensor_source_raises_priority(district):
    # The device id stays out of the text: "gas-0042" must not read as the keyword gas.
    report = normalise(sensor(metric="manhole_tilt", unit="deg"), district, LATER)
    assert report.description == "井盖倾斜位移：1250 deg（阈值 1000 deg）"
    category = district.category(report.category)
    priority, _ = district.assess_priority(
        category, report.description, 1, report.source_type, report.attributes
    )
    assert category.default_priority is Priority.P2 and priority is Priority.P2


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"metric": "radiation_usv"}, "data.metric: unknown metric 'radiation_usv'"),
        ({"metric": "Gas PPM"}, "data.metric: String should match"),
        ({"reading": "high"}, "data.reading:"),
        ({"threshold": None}, "data.threshold: Field required"),
        ({"device_id": ""}, "data.device_id:"),
        ({"unit": "x" * 17}, "data.unit:"),
        ({"grid_code": None}, "location or grid_code is required"),
        ({"grid_code": "123"}, "data.grid_code:"),
    ],
)
def test_bad_sensor_alarms_name_the_field(district, changes, needle):
    assert needle in refused(sensor(**changes), district)
