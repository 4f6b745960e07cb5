"""An IoT sensor alarm (``org.gridhub.sensor.alarm``): the metric mapped to a
category through ``routing/data/sensor_metrics.yaml``; the alarms of one device
fold into its live case (``fold_key``: the device id namespaced by the source
that sent it, so one vendor's device ids never fold into another's cases)."""

from __future__ import annotations

from datetime import datetime

from routing.district import District
from routing.provenance import SENSOR, natural_key
from routing.reports import build_report, derived_report_id
from schemas.envelope import Envelope
from schemas.reports import Report
from schemas.sources import SensorAlarm
from streams.logic.intake.common import IntakeError, data_model, place


def normalise_sensor(envelope: Envelope, district: District, received_at: datetime) -> Report:
    alarm = data_model(envelope, SensorAlarm)
    metric = district.sources.sensor_metric(alarm.metric)
    if metric is None:
        raise IntakeError(f"data.metric: unknown metric {alarm.metric!r}")
    placement = place(district, alarm.location, alarm.grid_code)
    # The device id stays in the attributes: in the text, an id such as "gas-0042"
    # would read as a priority keyword.
    description = alarm.message or (
        f"{metric.name_zh}：{alarm.reading:g} {alarm.unit}（阈值 {alarm.threshold:g} {alarm.unit}）"
    )
    return build_report(
        envelope,
        received_at,
        report_id=derived_report_id(envelope),
        category=metric.category,
        description=description,
        location=placement.location,
        grid_code=placement.grid_code,
        occurred_at=alarm.occurred_at,
        attributes={
            "fold_key": natural_key(SENSOR, envelope.source, alarm.device_id),
            "device_id": alarm.device_id,
            "metric": alarm.metric,
            "reading": alarm.reading,
            "threshold": alarm.threshold,
            "unit": alarm.unit,
            "above_threshold": alarm.reading > alarm.threshold,
        },
    )
