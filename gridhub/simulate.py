"""Realistic synthetic district traffic (``gridhub simulate``, DESIGN.md §5 CLI).

Two halves, kept apart so the first can be unit-tested without a broker:

* **What to send** (pure, deterministic for a seed): :class:`TrafficGenerator`
  makes the inbound CloudEvents of the four source kinds — grid-worker reports
  (with near-duplicates and exact retries), 数字城管 cases (with republished case
  numbers), IoT sensor alarms from a fleet of repeating devices, and CAP 1.2
  alerts with occasional Update/Cancel — and :class:`FieldActors` decides what
  departments and grid workers do with each case event (accept or return,
  resolve with a note, verify passed or failed) and after what delay.
* **Sending it** (:func:`run_simulation`): one aiokafka producer paced to the
  rate, one consumer of ``gridhub.case-events`` feeding :class:`FieldActors`,
  and a heap of delayed commands sent to ``gridhub.case-commands``.

Every text, name and number here is synthetic and says so (``urn:gridhub:simulator:*``
sources); nothing describes a real place or person.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import math
import random
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal
from xml.sax.saxutils import escape

from shapely.geometry import Point

from gridhub.console import StatusLine
from routing.district import District
from routing.grids import Grid
from schemas.cases import (
    Action,
    CaseAction,
    CaseCommand,
    CaseEvent,
    CaseEventType,
    CaseState,
)
from schemas.envelope import (
    CAP_ALERT,
    CASE_EVENT_PREFIX,
    CITYMGMT_CASE,
    REPORT_SUBMITTED,
    SENSOR_ALARM,
    Envelope,
    EnvelopeError,
    decode_kafka,
    encode_binary,
    encode_structured,
)
from schemas.reports import GeoPoint, Reporter, ReportSubmission
from schemas.sources import CAP_NAMESPACE, CitymgmtCase, SensorAlarm
from schemas.topics import TopicNames

Source = Literal["report", "citymgmt", "sensor", "cap"]
SOURCES: tuple[Source, ...] = ("report", "citymgmt", "sensor", "cap")

REPORT_SOURCE = "urn:gridhub:simulator:grid-app"
CITYMGMT_SOURCE = "urn:gridhub:simulator:citymgmt"
SENSOR_SOURCE = "urn:gridhub:simulator:iot"
CAP_SOURCE = "urn:gridhub:simulator:cap"
CAP_SENDER = "emergency-centre@simulator.gridhub.invalid"
CAP_CONTENT_TYPE = "application/cap+xml"

BEIJING = timezone(timedelta(hours=8))
_M_PER_DEG_LAT = 111_320.0
_RECENT_REPORTS = 256
_NEAR_WINDOW = timedelta(minutes=10)
_HANDLED_MEMORY = 200_000


# --------------------------------------------------------------------------- options


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
class ActionPolicy:
    """What departments and grid workers do with dispatched cases."""

    enabled: bool = True
    accept: float = 0.9  # a department accepts, else returns it (not ours)
    verify_pass: float = 0.85  # on-site verification passes, else rework
    delay: float = 2.0  # mean seconds before each action (uniform 0.5x-1.5x)

    def __post_init__(self) -> None:
        if not (0 <= self.accept <= 1 and 0 <= self.verify_pass <= 1):
            raise ValueError("accept and verify_pass must be between 0 and 1")
        if self.delay < 0:
            raise ValueError("delay must be >= 0")


# --------------------------------------------------------------------------- text banks
# Synthetic text, after the kind of thing grid workers write.

LANDMARKS = (
    "3号楼东侧",
    "小区南门",
    "公交站旁",
    "菜市场门口",
    "幼儿园附近",
    "12号楼楼下",
    "停车场入口",
    "社区卫生服务站旁",
    "十字路口西北角",
    "便利店门前",
    "健身器材区",
    "地下通道口",
    "7号楼与8号楼之间",
    "社区服务中心后身",
)

REPORT_TEXTS: dict[str, tuple[str, ...]] = {
    "manhole_cover": (
        "{place}井盖缺失，行人容易踩空，请尽快处理",
        "{place}雨水井盖破损下陷，已临时放置锥桶提醒",
        "{place}污水井盖松动，车辆经过时有明显异响",
        "{place}井盖错位，一角翘起约5厘米",
    ),
    "road_damage": (
        "{place}人行道砖松动翘起，老人推车经过不便",
        "{place}路面出现坑槽，直径约半米，雨后积水",
        "{place}道路护栏被撞歪，部分倒伏在机动车道上",
        "{place}沥青路面开裂下沉，电动车经过颠簸",
    ),
    "street_light": (
        "{place}路灯连续三晚不亮，夜间通行有安全隐患",
        "{place}路灯忽明忽暗，灯罩破损",
        "{place}路灯杆倾斜，底座螺栓锈蚀",
    ),
    "water_leak": (
        "{place}地面持续冒水，疑似供水管道漏水",
        "{place}消防栓旁漏水，已形成一片积水",
        "{place}水表井内水管破裂，水流到路面",
    ),
    "garbage": (
        "{place}垃圾桶已满溢，周边堆放大量生活垃圾",
        "{place}有人倾倒装修垃圾，堆了两天无人清运",
        "{place}暴露垃圾较多，气味较大，影响居民出行",
        "{place}垃圾分类桶损坏，垃圾散落一地",
    ),
    "illegal_parking": (
        "{place}机动车长期占用消防通道",
        "{place}多辆车辆乱停放，堵住小区出入口",
        "{place}车辆停放在盲道上，影响视障人士通行",
    ),
    "noise": (
        "{place}夜间施工噪声扰民，已超过晚上十点",
        "{place}广场舞音响声音过大，居民反映强烈",
        "{place}商户外放高音喇叭招揽顾客",
    ),
    "neighbour_dispute": (
        "{place}楼上楼下因漏水问题发生纠纷，需要调解",
        "{place}邻里因楼道堆物发生争吵",
        "{place}两户居民因停车位问题产生矛盾",
    ),
    "gas_smell": (
        "{place}楼道内有明显燃气异味，请立即派人查看",
        "{place}居民反映闻到煤气味，疑似管道漏气",
        "{place}燃气表附近有刺鼻气味，已通知住户开窗通风",
    ),
    "flooding": (
        "{place}道路积水约20厘米，车辆无法通行",
        "{place}下穿通道积水严重，已有车辆熄火",
        "{place}雨后排水不畅，地面大面积积水",
    ),
    "fire_hazard": (
        "{place}楼道内电动车飞线充电，存在火灾隐患",
        "{place}消防通道被杂物堵塞",
        "{place}灭火器过期，消防栓无水",
    ),
    "illegal_construction": (
        "{place}一楼住户私自扩建院墙，疑似违法建设",
        "{place}楼顶正在搭建彩钢板房",
        "{place}有人私自破墙开店",
    ),
}
GENERIC_TEXTS = (
    "{place}发现{name}问题，请相关部门处理",
    "{place}居民反映{name}，需要尽快核实处置",
)

RESOLVE_NOTES: dict[str, str] = {
    "manhole_cover": "已更换井盖并清理周边，设置警示标志",
    "road_damage": "已对破损路面进行修补",
    "street_light": "已更换灯具，路灯恢复正常",
    "water_leak": "已关阀抢修，管道修复完毕",
    "garbage": "垃圾已清运，周边已清扫",
    "illegal_parking": "已联系车主挪车，并张贴提示",
    "noise": "已对施工方进行劝导，夜间停止施工",
    "neighbour_dispute": "已组织双方调解，达成一致",
    "gas_smell": "燃气公司已检修，漏点已封堵",
    "flooding": "已抽排积水，疏通雨水口",
    "fire_hazard": "已清理隐患并开展消防宣传",
    "illegal_construction": "已下达整改通知，违建已拆除",
}
# How often each demo category comes up in grid reports (others: 3).
CATEGORY_WEIGHTS: dict[str, float] = {
    "garbage": 18,
    "illegal_parking": 14,
    "road_damage": 10,
    "street_light": 9,
    "noise": 9,
    "manhole_cover": 8,
    "other": 7,
    "neighbour_dispute": 6,
    "water_leak": 5,
    "illegal_construction": 5,
    "fire_hazard": 4,
    "flooding": 3,
    "gas_smell": 2,
}
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN_NAMES = ("伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "涛")
CITYMGMT_STATUSES = ("已立案", "待派遣", "已派遣")

# metric -> (threshold, unit, lowest alarm reading, highest alarm reading)
SENSOR_PROFILES: dict[str, tuple[float, str, float, float]] = {
    "gas_ppm": (50.0, "ppm", 55.0, 400.0),
    "methane_lel": (20.0, "%LEL", 21.0, 60.0),
    "water_level_cm": (15.0, "cm", 16.0, 60.0),
    "smoke": (0.15, "dB/m", 0.2, 1.0),
    "temperature_c": (60.0, "°C", 61.0, 120.0),
    "manhole_tilt": (5.0, "deg", 6.0, 30.0),
    "manhole_open": (0.5, "state", 1.0, 1.0),
    "pipe_pressure_kpa": (600.0, "kPa", 620.0, 900.0),
    "noise_db": (70.0, "dB(A)", 72.0, 95.0),
}


@dataclass(frozen=True)
class CapTemplate:
    event: str
    categories: tuple[str, ...]
    urgency: str
    severity: str
    certainty: str
    headline: str  # {area}
    description: str
    instruction: str


CAP_TEMPLATES = (
    CapTemplate(
        "暴雨蓝色预警",
        ("Met",),
        "Expected",
        "Moderate",
        "Likely",
        "{area}发布暴雨蓝色预警",
        "预计未来6小时内将出现50毫米以上降雨，低洼路段和下穿通道可能积水。",
        "注意防范城市内涝，车辆不要驶入积水路段。",
    ),
    CapTemplate(
        "燃气泄漏",
        ("Safety",),
        "Immediate",
        "Severe",
        "Observed",
        "{area}发生燃气泄漏",
        "施工挖断燃气管线，抢修队伍已赶赴现场。",
        "周边居民请勿使用明火，听从现场指挥有序疏散。",
    ),
    CapTemplate(
        "路面塌陷",
        ("Infra",),
        "Immediate",
        "Moderate",
        "Observed",
        "{area}发生路面塌陷",
        "路面出现直径约2米的塌陷坑，已设置围挡。",
        "过往车辆和行人请绕行。",
    ),
    CapTemplate(
        "火灾",
        ("Fire",),
        "Immediate",
        "Severe",
        "Observed",
        "{area}发生火情",
        "一处商铺起火，消防救援队伍正在处置。",
        "请远离现场，关闭门窗。",
    ),
    CapTemplate(
        "自来水爆管",
        ("Infra",),
        "Immediate",
        "Moderate",
        "Observed",
        "{area}供水管线爆管",
        "一条主供水管爆管，周边小区将临时停水。",
        "请居民提前储水。",
    ),
    CapTemplate(
        "大风蓝色预警",
        ("Met",),
        "Expected",
        "Minor",
        "Likely",
        "{area}发布大风蓝色预警",
        "预计今天午后有6级以上阵风。",
        "请加固户外广告牌和临时搭建物。",
    ),
)


# --------------------------------------------------------------------------- inbound


@dataclass(frozen=True)
class Inbound:
    """One record for ``gridhub.intake``."""

    source: Source
    envelope: Envelope
    key: bytes
    binary: bool = False
    repeat: str = ""  # "", "near", "retry", "republish", "update", "cancel"

    def encode(self) -> tuple[bytes, list[tuple[str, bytes]]]:
        """The Kafka value and headers (CloudEvents Kafka binding)."""
        return encode_binary(self.envelope) if self.binary else encode_structured(self.envelope)


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


@dataclass(frozen=True)
class _CapIssued:
    identifier: str
    sent: str
    template: CapTemplate
    area_xml: str
    area_desc: str


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


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
        self._category_weights = [CATEGORY_WEIGHTS.get(c, 3.0) for c in self.categories]
        self.district_code = self.grids[0].code[:6]
        self.citymgmt_rows = tuple(district.sources.citymgmt_codes.values())
        self.metrics = tuple(district.sources.metrics())
        self._bounds = {g.code: g.polygon.bounds for g in self.grids}
        self._recent: deque[_Recent] = deque(maxlen=_RECENT_REPORTS)
        self._citymgmt_sent: deque[Inbound] = deque(maxlen=_RECENT_REPORTS)
        self._cap_live: list[_CapIssued] = []
        self._citymgmt_seq = 0
        self._cap_seq = 0
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

    def _place(self, grid: Grid) -> str:
        return f"{grid.community_name}{self.rng.choice(LANDMARKS)}"

    def _person(self) -> Reporter:
        name = self.rng.choice(SURNAMES) + "".join(
            self.rng.choice(GIVEN_NAMES) for _ in range(self.rng.randint(1, 2))
        )
        phone = f"13{self.rng.randint(3, 9)}{self.rng.randrange(10**8):08d}"
        return Reporter(name=name, phone=phone)

    def _text(self, category: str, grid: Grid) -> str:
        templates = REPORT_TEXTS.get(category) or GENERIC_TEXTS
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
            return _replace(self.rng.choice(self._recent).inbound, repeat="retry")
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
        return _replace(inbound, repeat="near")

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
            status=CITYMGMT_STATUSES[0],
        )
        return self._citymgmt_inbound(case, now)

    def _republish(self, earlier: Inbound, now: datetime) -> Inbound:
        """The platform publishes the same case number again, its status moved on."""
        case = CitymgmtCase.model_validate(earlier.envelope.data)
        case = case.model_copy(update={"status": self.rng.choice(CITYMGMT_STATUSES[1:])})
        return _replace(self._citymgmt_inbound(case, now, remember=False), repeat="republish")

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
            threshold, unit, low, high = SENSOR_PROFILES.get(
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
        draw = self.rng.random()
        if self._cap_live and draw < self.mix.cap_update + self.mix.cap_cancel:
            earlier = self.rng.choice(self._cap_live)
            if draw < self.mix.cap_update:
                return self._cap(now, "Update", earlier.template, earlier, earlier.area_xml)
            self._cap_live.remove(earlier)
            return self._cap(now, "Cancel", earlier.template, earlier, earlier.area_xml)
        template = self.rng.choice(CAP_TEMPLATES)
        inbound = self._cap(now, "Alert", template, None, self._cap_area())
        return inbound

    def _cap_area(self) -> str:
        grid = self._grid()
        lat, lon = self._point_in(grid)
        shape = self.rng.random()
        desc = escape(f"{grid.street_name}{grid.community_name}一带")
        if shape < 0.5:
            radius = round(self.rng.uniform(0.2, 0.8), 2)
            body = f"<circle>{lat:.6f},{lon:.6f} {radius}</circle>"
        elif shape < 0.85:
            d = 0.002
            ring = [(lat - d, lon - d), (lat - d, lon + d), (lat + d, lon + d), (lat + d, lon - d)]
            ring.append(ring[0])
            body = "<polygon>" + " ".join(f"{a:.6f},{b:.6f}" for a, b in ring) + "</polygon>"
        else:
            body = f"<geocode><valueName>GRID</valueName><value>{grid.code}</value></geocode>"
        return f"<area><areaDesc>{desc}</areaDesc>{body}</area>"

    def _cap(
        self,
        now: datetime,
        msg_type: str,
        template: CapTemplate,
        earlier: _CapIssued | None,
        area_xml: str,
    ) -> Inbound:
        self._cap_seq += 1
        identifier = f"SIM-{self.district_code}-{self._cap_seq:06d}-{self.rng.randrange(16**6):06x}"
        sent = now.astimezone(BEIJING).replace(microsecond=0).isoformat()
        expires = (now + timedelta(hours=6)).astimezone(BEIJING).replace(microsecond=0).isoformat()
        area_desc = area_xml.split("<areaDesc>", 1)[1].split("</areaDesc>", 1)[0]
        parts = [
            "<?xml version='1.0' encoding='UTF-8'?>",
            f'<alert xmlns="{CAP_NAMESPACE}">',
            f"<identifier>{identifier}</identifier>",
            f"<sender>{CAP_SENDER}</sender>",
            f"<sent>{sent}</sent>",
            "<status>Actual</status>",
            f"<msgType>{msg_type}</msgType>",
            "<scope>Public</scope>",
        ]
        if msg_type == "Cancel":
            parts.append("<note>预警解除，险情已排除（模拟数据）</note>")
        if earlier is not None:
            parts.append(
                f"<references>{CAP_SENDER},{earlier.identifier},{earlier.sent}</references>"
            )
        headline = template.headline.format(area=area_desc)
        if msg_type == "Update":
            headline += "（更新）"
        parts += [
            "<info>",
            "<language>zh-CN</language>",
            *(f"<category>{c}</category>" for c in template.categories),
            f"<event>{escape(template.event)}</event>",
            f"<urgency>{template.urgency}</urgency>",
            f"<severity>{template.severity}</severity>",
            f"<certainty>{template.certainty}</certainty>",
            f"<effective>{sent}</effective>",
            f"<expires>{expires}</expires>",
            "<senderName>演示区应急指挥中心（模拟）</senderName>",
            f"<headline>{headline}</headline>",
            f"<description>{escape(template.description)}</description>",
            f"<instruction>{escape(template.instruction)}</instruction>",
            area_xml,
            "</info>",
            "</alert>",
        ]
        envelope = Envelope(
            id=identifier,
            source=CAP_SOURCE,
            type=CAP_ALERT,
            subject=identifier,
            time=now,
            datacontenttype=CAP_CONTENT_TYPE,
            data="".join(parts),
        )
        if msg_type == "Alert":
            self._cap_live.append(_CapIssued(identifier, sent, template, area_xml, area_desc))
            del self._cap_live[:-16]
        repeat = {"Alert": "", "Update": "update", "Cancel": "cancel"}[msg_type]
        key = (earlier.identifier if earlier else identifier).encode()
        return Inbound("cap", envelope, key, repeat=repeat)


def _replace(inbound: Inbound, **changes: Any) -> Inbound:
    return Inbound(
        source=changes.get("source", inbound.source),
        envelope=changes.get("envelope", inbound.envelope),
        key=changes.get("key", inbound.key),
        binary=changes.get("binary", inbound.binary),
        repeat=changes.get("repeat", inbound.repeat),
    )


# --------------------------------------------------------------------------- field actors


@dataclass(frozen=True, order=True)
class Planned:
    """A command to send ``delay`` seconds after the case event that prompted it."""

    delay: float
    command: CaseCommand = field(compare=False)

    @property
    def action(self) -> CaseAction:
        body = self.command.body
        if not isinstance(body, CaseAction):  # pragma: no cover - actors send actions only
            raise TypeError(f"not a case action: {body!r}")
        return body

    @property
    def label(self) -> str:
        """The action's name; verify is split into verify_passed / verify_failed."""
        action = self.action
        if action.action is Action.VERIFY:
            return "verify_passed" if action.passed else "verify_failed"
        return action.action.value


class FieldActors:
    """Departments and grid workers reacting to the public case feed.

    Each decision is drawn from a generator seeded by ``seed``, the case id and
    the event version, so it does not depend on the order events arrive in, and
    a replayed event gets the same (idempotent) command ids."""

    def __init__(self, seed: int = 0, policy: ActionPolicy | None = None) -> None:
        self.seed = seed
        self.policy = policy or ActionPolicy()
        self._handled: set[tuple[str, int]] = set()
        self._order: deque[tuple[str, int]] = deque()

    def plan(self, event: CaseEvent) -> list[Planned]:
        """What happens next to the case after ``event``, if anything."""
        if not self.policy.enabled:
            return []
        marker = (event.case_id, event.version)
        if marker in self._handled:
            return []
        self._handled.add(marker)
        self._order.append(marker)
        if len(self._order) > _HANDLED_MEMORY:
            self._handled.discard(self._order.popleft())
        case = event.case
        rng = random.Random(f"{self.seed}:{event.case_id}:{event.version}")  # noqa: S311
        delay = self.policy.delay * rng.uniform(0.5, 1.5)
        when = event.time + timedelta(seconds=delay)
        department = case.lead_department
        if (
            event.type in (CaseEventType.DISPATCHED, CaseEventType.REWORKED)
            and case.state is CaseState.DISPATCHED
            and department
        ):
            if rng.random() < self.policy.accept:
                body = CaseAction(action=Action.ACCEPT, note="已接单，安排人员前往现场")
            else:
                body = CaseAction(action=Action.RETURN, reason="非本部门职责范围，请重新派遣")
            return [Planned(delay, self._department(event, department, body, when))]
        if (
            event.type is CaseEventType.ACCEPTED
            and case.state is CaseState.IN_PROGRESS
            and department
        ):
            note = RESOLVE_NOTES.get(case.category, "已现场处置完毕")
            body = CaseAction(action=Action.RESOLVE, note=f"{note}（模拟）")
            return [Planned(delay, self._department(event, department, body, when))]
        if event.type is CaseEventType.RESOLVED and case.state is CaseState.RESOLVED:
            if rng.random() < self.policy.verify_pass:
                body = CaseAction(action=Action.VERIFY, passed=True, note="现场核查，问题已解决")
            else:
                body = CaseAction(
                    action=Action.VERIFY, passed=False, reason="现场核查问题仍然存在，需返工"
                )
            command = CaseCommand(
                command_id=self._command_id(event, body.action),
                case_id=event.case_id,
                actor=f"simulated-grid-worker-{case.grid_code[-6:]}",
                role="grid_worker",
                scope=case.grid_code,
                time=when,
                body=body,
            )
            return [Planned(delay, command)]
        return []

    def _department(
        self, event: CaseEvent, department: str, body: CaseAction, when: datetime
    ) -> CaseCommand:
        return CaseCommand(
            command_id=self._command_id(event, body.action),
            case_id=event.case_id,
            actor=f"simulated-department-{department}",
            role="department",
            scope=department,
            time=when,
            body=body,
        )

    @staticmethod
    def _command_id(event: CaseEvent, action: Action) -> str:
        return f"sim:{action.value}:{event.case_id}:v{event.version}"


def read_case_event(
    value: bytes | None, headers: Iterable[tuple[str, bytes]] | None
) -> CaseEvent | None:
    """The :class:`CaseEvent` in a ``gridhub.case-events`` record, or None if it is not one."""
    try:
        envelope = decode_kafka(value, headers)
    except EnvelopeError:
        return None
    if not envelope.type.startswith(CASE_EVENT_PREFIX) or not isinstance(envelope.data, dict):
        return None
    try:
        return CaseEvent.model_validate(envelope.data)
    except ValueError:
        return None


# --------------------------------------------------------------------------- Kafka I/O


class SimulationError(RuntimeError):
    """The simulation cannot run (e.g. the hub's topics do not exist)."""


@dataclass
class SimulationTotals:
    elapsed: float = 0.0
    inbound: Counter[str] = field(default_factory=Counter)  # per source and per repeat kind
    commands: Counter[str] = field(default_factory=Counter)  # per action sent
    case_events: int = 0
    dropped_commands: int = 0  # planned to run after the end
    send_errors: int = 0

    @property
    def sent(self) -> int:
        return sum(self.inbound[s] for s in SOURCES)

    def summary(self) -> str:
        lines = [
            f"simulated {self.elapsed:.1f}s: {self.sent} inbound events "
            f"({self.sent / self.elapsed if self.elapsed else 0:.1f}/s)",
            "  by source: " + ", ".join(f"{s} {self.inbound[s]}" for s in SOURCES),
            "  repeats: "
            + ", ".join(
                f"{kind} {self.inbound[kind]}"
                for kind in ("near", "retry", "republish", "update", "cancel")
            ),
            f"  case events seen: {self.case_events}",
            "  commands sent: "
            + (", ".join(f"{a} {n}" for a, n in sorted(self.commands.items())) or "none")
            + (
                f" ({self.dropped_commands} planned past the end, not sent)"
                if self.dropped_commands
                else ""
            ),
        ]
        if self.send_errors:
            lines.append(f"  SEND ERRORS: {self.send_errors}")
        return "\n".join(lines)


@dataclass(frozen=True)
class SimulationOptions:
    rate: float
    duration: float
    seed: int = 0
    mix: Mix = field(default_factory=Mix)
    actions: ActionPolicy = field(default_factory=ActionPolicy)


async def run_simulation(
    bootstrap: str,
    topics: TopicNames,
    district: District,
    options: SimulationOptions,
    status: StatusLine | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> SimulationTotals:
    """Send the traffic for ``options.duration`` seconds, then return the totals."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    if options.rate <= 0 or options.duration <= 0:
        raise ValueError("rate and duration must be positive")
    generator = TrafficGenerator(district, options.seed, options.mix)
    actors = FieldActors(options.seed, options.actions)
    totals = SimulationTotals()
    status = status or StatusLine()
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id="gridhub-simulate",
        acks="all",
        linger_ms=10,
    )
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        client_id="gridhub-simulate-feed",
        group_id=None,
        enable_auto_commit=False,
    )
    pending: list[tuple[float, int, Planned]] = []  # (due monotonic, seq, planned)
    seq = 0

    def sent(future: asyncio.Future[Any]) -> None:
        if future.cancelled() or future.exception() is not None:
            totals.send_errors += 1

    await producer.start()
    await consumer.start()
    try:
        existing = await consumer.topics()
        wanted = (topics.intake, topics.case_commands, topics.case_events)
        missing = [name for name in wanted if name not in existing]
        if missing:
            raise SimulationError(
                f"topics missing on {bootstrap}: {', '.join(missing)} "
                "(create them with `gridhub topics create`, or start the hub with `gridhub up`)"
            )
        if options.actions.enabled:
            # ``topics()`` reads a separate metadata snapshot: have the client itself
            # track the topic, so that its partitions are known.
            await consumer._client.add_topic(topics.case_events)
            parts = consumer.partitions_for_topic(topics.case_events)
            for _ in range(20):
                if parts:
                    break
                await asyncio.sleep(0.25)
                await consumer._client.force_metadata_update()
                parts = consumer.partitions_for_topic(topics.case_events)
            if not parts:
                raise SimulationError(f"no partitions found for {topics.case_events}")
            assigned = [TopicPartition(topics.case_events, p) for p in sorted(parts)]
            consumer.assign(assigned)
            await consumer.seek_to_end(*assigned)
            for tp in assigned:  # resolve the positions now: only this run's cases count
                await consumer.position(tp)

        async def follow_cases() -> None:
            nonlocal seq
            while True:
                batches = await consumer.getmany(timeout_ms=200, max_records=500)
                for records in batches.values():
                    for record in records:
                        event = read_case_event(record.value, record.headers)
                        if event is None:
                            continue
                        totals.case_events += 1
                        for planned in actors.plan(event):
                            seq += 1
                            due = time.monotonic() + planned.delay
                            heapq.heappush(pending, (due, seq, planned))

        follower = asyncio.create_task(follow_cases()) if options.actions.enabled else None
        started = time.monotonic()
        end = started + options.duration
        inbound_sent = 0

        def progress(elapsed: float) -> str:
            return (
                f"simulate {elapsed:5.1f}/{options.duration:g}s  "
                + "  ".join(f"{s} {generator.counts[s]}" for s in SOURCES)
                + f"  retry {generator.counts['retry']}"
                + f"  commands {sum(totals.commands.values())}"
                + f"  {inbound_sent / elapsed if elapsed > 0 else 0:.0f}/s"
            )

        try:
            while True:
                now_mono = time.monotonic()
                if now_mono >= end:
                    break
                if follower is not None and follower.done():
                    follower.result()  # re-raise what stopped it
                due = min(int((now_mono - started) * options.rate) + 1, 10**12) - inbound_sent
                now = clock()
                for inbound in generator.take(max(0, due), now):
                    value, headers = inbound.encode()
                    future = await producer.send(
                        topics.intake, value=value, key=inbound.key, headers=headers
                    )
                    future.add_done_callback(sent)
                    inbound_sent += 1
                while pending and pending[0][0] <= now_mono:
                    _, _, planned = heapq.heappop(pending)
                    command = planned.command
                    future = await producer.send(
                        topics.case_commands,
                        value=command.model_dump_json().encode(),
                        key=command.partition_key,
                    )
                    future.add_done_callback(sent)
                    totals.commands[planned.label] += 1
                status.show(progress(now_mono - started))
                await asyncio.sleep(0.01)
        finally:
            if follower is not None:
                follower.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await follower
        await producer.flush()
        totals.elapsed = time.monotonic() - started
        totals.inbound = generator.counts.copy()
        totals.dropped_commands = len(pending)
        status.show(progress(totals.elapsed), force=True)
        status.done()
        return totals
    finally:
        await producer.stop()
        await consumer.stop()
