"""What ``gridhub simulate`` and ``gridhub bench`` send: :class:`TrafficGenerator`
makes the inbound CloudEvents of the four source kinds, deterministic for a seed —
grid-worker reports (with near-duplicates and exact retries), 数字城管 cases (with
republished case numbers), IoT sensor alarms from a fleet of repeating devices, and
CAP 1.2 alerts (:mod:`gridhub.simulate.cap`). :class:`Mix` says how much of each.

Pure: no broker, no clock (timestamps are the ``now`` it is given); the words come
from :mod:`gridhub.simulate.texts`.
"""

from __future__ import annotations

import math
import random
import uuid
from collections import Counter, deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shapely.geometry import Point

from gridhub.simulate.cap import CapAlerts
from gridhub.simulate.inbound import BEIJING, SOURCES, Inbound, Source
from gridhub.simulate.texts import corpus
from routing.district import District
from routing.grids import Grid
from schemas.envelope import CITYMGMT_CASE, REPORT_SUBMITTED, SENSOR_ALARM, Envelope
from schemas.reports import GeoPoint, Reporter, ReportSubmission
from schemas.sources import CitymgmtCase, SensorAlarm

REPORT_SOURCE = "urn:gridhub:simulator:grid-app"
CITYMGMT_SOURCE = "urn:gridhub:simulator:citymgmt"
SENSOR_SOURCE = "urn:gridhub:simulator:iot"

_M_PER_DEG_LAT = 111_320.0
_RECENT_REPORTS = 256
_NEAR_WINDOW = timedelta(minutes=10)


@dataclass(frozen=True)
class Mix:
    """Shares of the inbound traffic per source (normalised), and how often a
    source repeats itself the way real ones do."""

    report: float = 70.0
    citymgmt: float = 15.0
    sensor: float = 12.0
    cap: float = 3.0
    near_duplicate: float = 0.15  # of grid reports: same category, < 50 m, minutes later
    retry: float = 0.05  # of grid reports: the exact same event again (phone retry)
    republish: float = 0.05  # of 数字城管 cases: the same case number again
    cap_update: float = 0.25  # of CAP alerts (when one is live): an Update
    cap_cancel: float = 0.10  # of CAP alerts (when one is live): a Cancel
    sensor_devices: int = 40  # the fleet; a few devices raise most alarms

    def __post_init__(self) -> None:
        shares = (self.report, self.citymgmt, self.sensor, self.cap)
        if any(s < 0 for s in shares) or sum(shares) <= 0:
            raise ValueError("source shares must be >= 0 and not all 0")
        for name in ("near_duplicate", "retry", "republish", "cap_update", "cap_cancel"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be between 0 and 1")
        if self.near_duplicate + self.retry > 1 or self.cap_update + self.cap_cancel > 1:
            raise ValueError("repeat shares of one source must add up to at most 1")
        if self.sensor_devices < 1:
            raise ValueError("sensor_devices must be >= 1")

    @property
    def weights(self) -> tuple[float, float, float, float]:
        return (self.report, self.citymgmt, self.sensor, self.cap)

    @classmethod
    def parse(cls, text: str, **overrides: Any) -> Mix:
        """``"report=70,citymgmt=15,sensor=12,cap=3"``; sources left out get 0."""
        shares: dict[str, float] = dict.fromkeys(SOURCES, 0.0)
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, sep, value = part.partition("=")
            name = name.strip()
            if not sep or name not in shares:
                raise ValueError(f"bad mix entry {part!r}: use source=share, sources {SOURCES}")
            try:
                shares[name] = float(value)
            except ValueError:
                raise ValueError(f"bad share in {part!r}") from None
        return cls(
            report=shares["report"],
            citymgmt=shares["citymgmt"],
            sensor=shares["sensor"],
            cap=shares["cap"],
            **overrides,
        )


@dataclass(frozen=True)
class _Recent:
    time: datetime
    category: str
    lat: float
    lon: float
    grid: Grid
    inbound: Inbound


@dataclass
class _Device:
    device_id: str
    metric: str
    threshold: float
    unit: str
    low: float
    high: float
    grid: Grid
    lat: float
    lon: float


class TrafficGenerator:
    """Inbound events of every source kind, deterministic for a seed.

    The sequence of events depends only on ``seed`` and ``mix``; their
    timestamps are the ``now`` given to :meth:`next`."""

    def __init__(self, district: District, seed: int = 0, mix: Mix | None = None) -> None:
        self.district = district
        self.mix = mix or Mix()
        self.rng = random.Random(seed)  # noqa: S311 - synthetic traffic, not security
        self.grids: tuple[Grid, ...] = tuple(district.grids)
        if not self.grids:
            raise ValueError("the district has no grids")
        self.categories = tuple(c.code for c in district.taxonomy.all())
        self.corpus = corpus()
        self._category_weights = [self.corpus.category_weights.get(c, 3.0) for c in self.categories]
        self.district_code = self.grids[0].code[:6]
        self.citymgmt_rows = tuple(district.sources.citymgmt_codes.values())
        self.metrics = tuple(district.sources.metrics())
        self._bounds = {g.code: g.polygon.bounds for g in self.grids}
        self._recent: deque[_Recent] = deque(maxlen=_RECENT_REPORTS)
        self._citymgmt_sent: deque[Inbound] = deque(maxlen=_RECENT_REPORTS)
        self._citymgmt_seq = 0
        self._cap = CapAlerts(
            self.rng,
            self.district_code,
            self._spot,
            self.corpus.cap_templates,
            self.mix.cap_update,
            self.mix.cap_cancel,
        )
        self.devices = self._fleet(self.mix.sensor_devices)
        # Zipf-like: the first devices of the fleet raise most of the alarms.
        self._device_weights = [1.0 / (rank + 1) for rank in range(len(self.devices))]
        self.counts: Counter[str] = Counter()

    # ---------------------------------------------------------------- basics

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _grid(self) -> Grid:
        return self.rng.choice(self.grids)

    def _point_in(self, grid: Grid) -> tuple[float, float]:
        """A uniform point well inside ``grid`` (lat, lon)."""
        min_lon, min_lat, max_lon, max_lat = self._bounds[grid.code]
        pad_lon, pad_lat = (max_lon - min_lon) * 0.05, (max_lat - min_lat) * 0.05
        for _ in range(32):
            lon = self.rng.uniform(min_lon + pad_lon, max_lon - pad_lon)
            lat = self.rng.uniform(min_lat + pad_lat, max_lat - pad_lat)
            if grid.polygon.contains(Point(lon, lat)):
                return round(lat, 6), round(lon, 6)
        centre = grid.polygon.representative_point()
        return round(centre.y, 6), round(centre.x, 6)

    def _spot(self) -> tuple[Grid, float, float]:
        grid = self._grid()
        lat, lon = self._point_in(grid)
        return grid, lat, lon

    def _place(self, grid: Grid) -> str:
        return f"{grid.community_name}{self.rng.choice(self.corpus.landmarks)}"

    def _person(self) -> Reporter:
        name = self.rng.choice(self.corpus.surnames) + "".join(
            self.rng.choice(self.corpus.given_names) for _ in range(self.rng.randint(1, 2))
        )
        phone = f"13{self.rng.randint(3, 9)}{self.rng.randrange(10**8):08d}"
        return Reporter(name=name, phone=phone)

    def _text(self, category: str, grid: Grid) -> str:
        templates = self.corpus.report_texts.get(category) or self.corpus.generic_texts
        found = self.district.category(category)
        name = found.name_zh if found is not None else category
        return self.rng.choice(templates).format(place=self._place(grid), name=name)

    # ---------------------------------------------------------------- the stream

    def next(self, now: datetime) -> Inbound:
        """The next inbound event, of a source drawn from the mix."""
        source: Source = self.rng.choices(SOURCES, weights=self.mix.weights)[0]
        if source == "report":
            inbound = self._report_or_repeat(now)
        elif source == "citymgmt":
            inbound = self._citymgmt_or_republish(now)
        elif source == "sensor":
            inbound = self.sensor_alarm(now)
        else:
            inbound = self.cap_alert(now)
        self.counts[inbound.source] += 1
        if inbound.repeat:
            self.counts[inbound.repeat] += 1
        return inbound

    def take(self, count: int, now: datetime) -> list[Inbound]:
        return [self.next(now) for _ in range(count)]

    # ---------------------------------------------------------------- grid reports

    def _report_or_repeat(self, now: datetime) -> Inbound:
        draw = self.rng.random()
        if draw < self.mix.retry and self._recent:
            return self.rng.choice(self._recent).inbound.repeated("retry")
        if draw < self.mix.retry + self.mix.near_duplicate:
            near = [r for r in self._recent if now - r.time <= _NEAR_WINDOW]
            if near:
                return self._near_duplicate(self.rng.choice(near), now)
        return self.grid_report(now)

    def grid_report(self, now: datetime, category: str | None = None) -> Inbound:
        """A fresh grid-worker report: a new report id, somewhere in a random grid."""
        grid = self._grid()
        lat, lon = self._point_in(grid)
        if category is None:
            category = self.rng.choices(self.categories, weights=self._category_weights)[0]
        return self._report(now, category, grid, lat, lon)

    def _near_duplicate(self, origin: _Recent, now: datetime) -> Inbound:
        """Another report of the same problem: same category, a few tens of metres off."""
        found = self.district.category(origin.category)
        radius = found.dedup_radius_m if found is not None else 50.0
        distance = self.rng.uniform(0, min(40.0, radius * 0.4))
        bearing = self.rng.uniform(0, 2 * math.pi)
        lat = origin.lat + distance * math.cos(bearing) / _M_PER_DEG_LAT
        lon = origin.lon + distance * math.sin(bearing) / (
            _M_PER_DEG_LAT * math.cos(math.radians(origin.lat))
        )
        grid = self.district.locate(lat, lon)
        if grid is None:  # jittered out of the district: report from the same spot
            lat, lon, grid = origin.lat, origin.lon, origin.grid
        inbound = self._report(now, origin.category, grid, round(lat, 6), round(lon, 6))
        return inbound.repeated("near")

    def _report(self, now: datetime, category: str, grid: Grid, lat: float, lon: float) -> Inbound:
        report_id = self._uuid()
        submission = ReportSubmission(
            category=category,
            description=self._text(category, grid),
            location=GeoPoint(lat=lat, lon=lon),
            occurred_at=now - timedelta(seconds=self.rng.randint(0, 1800)),
            report_id=uuid.UUID(report_id),
            reporter=self._person() if self.rng.random() < 0.6 else None,
        )
        envelope = Envelope.model_validate(
            {
                "id": report_id,
                "source": REPORT_SOURCE,
                "type": REPORT_SUBMITTED,
                "subject": report_id,
                "time": now,
                "datacontenttype": "application/json",
                "data": submission.model_dump(mode="json", exclude_none=True),
                "submittedby": f"simulated-grid-worker-{grid.code[-6:]}",
            }
        )
        inbound = Inbound("report", envelope, report_id.encode())
        self._recent.append(_Recent(now, category, lat, lon, grid, inbound))
        return inbound

    # ---------------------------------------------------------------- 数字城管

    def _citymgmt_or_republish(self, now: datetime) -> Inbound:
        if self._citymgmt_sent and self.rng.random() < self.mix.republish:
            return self._republish(self.rng.choice(self._citymgmt_sent), now)
        return self.citymgmt_case(now)

    def citymgmt_case(self, now: datetime) -> Inbound:
        """A new 数字城管 case with the platform's own 部件/事件 code and case number."""
        if not self.citymgmt_rows:
            return self.grid_report(now)
        row = self.rng.choice(self.citymgmt_rows)
        grid = self._grid()
        lat, lon = self._point_in(grid)
        self._citymgmt_seq += 1
        number = f"SZCG-{now.astimezone(BEIJING):%Y%m%d}-{self._citymgmt_seq:06d}"
        kind_zh = "部件" if row.kind == "component" else "事件"
        description = (
            f"监督员巡查发现{self._place(grid)}{row.name_zh}问题（{kind_zh}·{row.group}），"
            "已拍照取证，请处置"
        )
        case = CitymgmtCase(
            case_number=number,
            category_code=row.code,
            kind=row.kind,
            description=description,
            location=GeoPoint(lat=lat, lon=lon),
            occurred_at=now - timedelta(seconds=self.rng.randint(60, 3600)),
            reporter=self._person(),
            status=self.corpus.citymgmt_statuses[0],
        )
        return self._citymgmt_inbound(case, now)

    def _republish(self, earlier: Inbound, now: datetime) -> Inbound:
        """The platform publishes the same case number again, its status moved on."""
        case = CitymgmtCase.model_validate(earlier.envelope.data)
        status = self.rng.choice(self.corpus.citymgmt_statuses[1:])
        case = case.model_copy(update={"status": status})
        return self._citymgmt_inbound(case, now, remember=False).repeated("republish")

    def _citymgmt_inbound(
        self, case: CitymgmtCase, now: datetime, remember: bool = True
    ) -> Inbound:
        envelope = Envelope(
            id=self._uuid(),
            source=CITYMGMT_SOURCE,
            type=CITYMGMT_CASE,
            subject=case.case_number,
            time=now,
            datacontenttype="application/json",
            data=case.model_dump(mode="json", exclude_none=True),
        )
        # The platform's connector speaks the binary mode half of the time.
        binary = self.rng.random() < 0.5
        inbound = Inbound("citymgmt", envelope, case.case_number.encode(), binary=binary)
        if remember:
            self._citymgmt_sent.append(inbound)
        return inbound

    # ---------------------------------------------------------------- sensors

    def _fleet(self, size: int) -> list[_Device]:
        devices: list[_Device] = []
        for n in range(size if self.metrics else 0):
            metric = self.rng.choice(self.metrics)
            threshold, unit, low, high = self.corpus.sensor_profiles.get(
                metric.metric, (1.0, (metric.unit or "unit")[:16], 1.1, 3.0)
            )
            grid = self._grid()
            lat, lon = self._point_in(grid)
            prefix = metric.metric.split("_")[0][:8]
            devices.append(
                _Device(
                    f"{prefix}-{grid.code[-6:]}-{n:03d}",
                    metric.metric,
                    threshold,
                    unit,
                    low,
                    high,
                    grid,
                    lat,
                    lon,
                )
            )
        return devices

    def sensor_alarm(self, now: datetime) -> Inbound:
        """An alarm from the fleet; a few devices alarm again and again."""
        if not self.devices:
            return self.grid_report(now)
        device = self.rng.choices(self.devices, weights=self._device_weights)[0]
        alarm = SensorAlarm(
            device_id=device.device_id,
            metric=device.metric,
            reading=round(self.rng.uniform(device.low, device.high), 2),
            threshold=device.threshold,
            unit=device.unit,
            location=GeoPoint(lat=device.lat, lon=device.lon),
            occurred_at=now - timedelta(seconds=self.rng.randint(0, 30)),
        )
        envelope = Envelope(
            id=self._uuid(),
            source=SENSOR_SOURCE,
            type=SENSOR_ALARM,
            subject=device.device_id,
            time=now,
            datacontenttype="application/json",
            data=alarm.model_dump(mode="json", exclude_none=True),
        )
        return Inbound("sensor", envelope, device.device_id.encode())

    # ---------------------------------------------------------------- CAP 1.2

    def cap_alert(self, now: datetime) -> Inbound:
        """A CAP 1.2 alert; when one is live, sometimes an Update or Cancel of it."""
        return self._cap.next(now)
