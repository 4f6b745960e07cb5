"""The fault suite's harness: a report set whose cases are known by
construction, a census of what the database ended with, processes of a hub on
its own topics / consumer group / database, and the one-line result of a scenario.

Cases by construction: report groups sit on a lattice of points at least
~250 m apart (more than the merge radius of every category used, ≤ 200 m) and at least 40 m
inside their grid; a group is one (point, category) pair, so two groups never
merge. A group has 1–3 reports within ~10 m of each other (near-duplicates that
must merge into one case), and some reports are sent twice with the same id
(exact duplicates that must count once). Expected: one case per group holding
exactly the group's reports, ``report_count`` = the group's size, and one
``opened`` event and a gap-free timeline (versions 1..n) per case.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, select

from gridhub.local import processes
from gridhub.local.processes import HubProcess, free_port
from gridhub.topics import create_topics, delete_topics
from routing.district import District
from schemas.envelope import REPORT_SUBMITTED, Envelope, encode_structured
from schemas.topics import TopicNames
from sinks.db import make_engine
from sinks.models import case_events, cases, reports
from tests.fixtures.worker import HubEnv, process_env, wait_until

Record = tuple[bytes, bytes, list[tuple[str, bytes]]]

LATTICE_DLAT = 0.0023  # ~256 m
LATTICE_DLON = 0.0030  # ~256 m at 39.9° N: more than every merge radius used here (≤ 200 m)
EDGE_MARGIN_DEG = 0.0004  # ~40 m inside the grid polygon
JITTER_DEG = 0.00008  # near-duplicates within ~10 m of the group's point
PARTITIONS = 4

# -- results ----------------------------------------------------------------------------

RESULTS: list[Scenario] = []

HEADER = (
    f"{'scenario':<34} {'sent':>6} {'expect':>6} {'found':>6} {'dupl':>5} {'lost':>5} "
    f"{'recover s':>9} {'bound s':>7}  notes"
)


@dataclass
class Scenario:
    """One fault scenario's figures; ``recover_s`` is from the end of the fault
    (or the last event sent, when the fault has no end) to the last expected case."""

    name: str
    events_sent: int = 0
    cases_expected: int = 0
    cases_found: int = 0
    duplicates: int = 0
    lost: int = 0
    recover_s: float | None = None
    bound_s: float | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        recover = "-" if self.recover_s is None else f"{self.recover_s:.1f}"
        bound = "-" if self.bound_s is None else f"{self.bound_s:.0f}"
        notes = ", ".join(f"{k}={_fmt(v)}" for k, v in self.notes.items())
        return (
            f"{self.name:<34} {self.events_sent:>6} {self.cases_expected:>6} "
            f"{self.cases_found:>6} {self.duplicates:>5} {self.lost:>5} {recover:>9} "
            f"{bound:>7}  {notes}"
        )

    def record(self) -> None:
        """Keep it for the session's table and JSON summary, and print it now."""
        RESULTS.append(self)
        print(f"\n{HEADER}\n{self.line()}")

    def check(self) -> None:
        """The assertions every scenario makes: nothing lost, nothing doubled,
        every expected case found, recovered within its bound."""
        assert self.lost == 0, f"{self.name}: {self.lost} reports lost ({self.notes})"
        assert self.duplicates == 0, f"{self.name}: {self.duplicates} duplicates ({self.notes})"
        assert self.cases_found == self.cases_expected, self.line()
        if self.bound_s is not None:
            assert self.recover_s is not None, f"{self.name}: did not recover"
            assert self.recover_s <= self.bound_s, self.line()


@contextmanager
def recorded(scenario: Scenario) -> Iterator[Scenario]:
    """Record the scenario's line however its run ends; an exception (a process that
    died, a load that could not be sent) is noted as ``aborted``."""
    try:
        yield scenario
    except BaseException as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        scenario.notes["aborted"] = f"{type(exc).__name__}: {first[:160]}"
        raise
    finally:
        scenario.record()


def utc_clock() -> str:
    """Wall-clock time to find a moment in the processes' logs."""
    return datetime.now(UTC).strftime("%H:%M:%S.%f")[:-3]


def _fmt(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def write_summary(path: Path) -> None:
    path.write_text(json.dumps([asdict(s) for s in RESULTS], indent=2, default=str))


# -- the report set ---------------------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    report_id: str
    group: int
    category: str
    lat: float
    lon: float
    community: str


@dataclass
class Plan:
    """Reports in send order (exact duplicates included) and their groups."""

    source: str
    order: list[Planned]
    groups: dict[int, list[str]]

    @property
    def distinct(self) -> dict[str, Planned]:
        return {p.report_id: p for p in self.order}

    def envelope(self, planned: Planned, n: int, source: str | None = None) -> Envelope:
        return Envelope(
            id=planned.report_id,
            source=source or self.source,
            type=REPORT_SUBMITTED,
            time=datetime.now(UTC) - timedelta(seconds=1),
            datacontenttype="application/json",
            data=self.report_body(planned, n),
        )

    @staticmethod
    def report_body(planned: Planned, n: int) -> dict[str, Any]:
        return {
            "category": planned.category,
            "description": f"故障演练 {n} group {planned.group}",
            "location": {"lat": planned.lat, "lon": planned.lon},
            "report_id": planned.report_id,
        }

    def kafka_records(self) -> list[Record]:
        """Structured CloudEvents for ``gridhub.intake``, keyed by report id (the intake
        re-keys by community)."""
        out = []
        for n, planned in enumerate(self.order):
            value, headers = encode_structured(self.envelope(planned, n))
            out.append((planned.report_id.encode(), value, headers))
        return out


_LATTICE: list[tuple[float, float, str]] | None = None


def lattice() -> list[tuple[float, float, str]]:
    """Points of the demo district ≥ ~250 m apart, each ≥ 40 m inside a grid:
    ``(lat, lon, community code)``."""
    global _LATTICE
    if _LATTICE is None:
        from shapely.geometry import Point

        district = District.load()
        grids = list(district.grids)
        south = min(g.polygon.bounds[1] for g in grids)
        west = min(g.polygon.bounds[0] for g in grids)
        north = max(g.polygon.bounds[3] for g in grids)
        east = max(g.polygon.bounds[2] for g in grids)
        points = []
        lat = south + 0.0011
        while lat < north:
            lon = west + 0.0013
            while lon < east:
                grid = district.locate(lat, lon)
                if grid is not None and grid.polygon.exterior.distance(Point(lon, lat)) >= (
                    EDGE_MARGIN_DEG
                ):
                    points.append((round(lat, 6), round(lon, 6), grid.community_code))
                lon += LATTICE_DLON
            lat += LATTICE_DLAT
        _LATTICE = points
    return _LATTICE


def make_plan(
    categories: Sequence[str],
    groups: int,
    *,
    seed: int,
    source: str = "urn:test:faults",
    max_size: int = 3,
    resend_every: int = 7,
) -> Plan:
    """``groups`` cases of the given categories, 1..``max_size`` reports each, sent in
    rounds (every group's first report, then every second one...), so near-duplicates
    arrive well after the report that opened their case; every ``resend_every``-th
    report is sent again with the same id at the end of its round."""
    points = lattice()
    if groups > len(points) * len(categories):
        raise ValueError(f"at most {len(points) * len(categories)} groups for these categories")
    rng = random.Random(seed)
    namespace = uuid.UUID(int=rng.getrandbits(128))
    members: dict[int, list[Planned]] = {}
    for g in range(groups):
        lat, lon, community = points[g % len(points)]
        category = categories[g // len(points)]
        size = 1 + (g % max_size)
        members[g] = [
            Planned(
                report_id=str(uuid.uuid5(namespace, f"{g}/{i}")),
                group=g,
                category=category,
                lat=lat + (rng.uniform(-JITTER_DEG, JITTER_DEG) if i else 0.0),
                lon=lon + (rng.uniform(-JITTER_DEG, JITTER_DEG) if i else 0.0),
                community=community,
            )
            for i in range(size)
        ]
    order: list[Planned] = []
    count = 0
    for round_ in range(max_size):
        resends = []
        for g in range(groups):
            if round_ < len(members[g]):
                order.append(members[g][round_])
                count += 1
                if count % resend_every == 0:
                    resends.append(members[g][round_])
        order += resends
    return Plan(
        source=source,
        order=order,
        groups={g: [p.report_id for p in ps] for g, ps in members.items()},
    )


# -- the census -------------------------------------------------------------------------


@dataclass
class Census:
    expected_reports: int
    expected_cases: int
    found_reports: int
    cases_found: int
    lost: int
    splits: int  # a group spread over more than one case
    wrong_merges: int  # a case holding reports of more than one group
    overcount: int  # report_count above the reports the case holds
    undercount: int  # report_count below them (not caught up yet, or lost attaches)
    extra_opened: int  # "opened" events beyond one per case
    timeline_gaps: int  # cases whose versions are not 1..version
    lost_ids: list[str] = field(default_factory=list)
    split_groups: dict[int, list[str]] = field(default_factory=dict)  # group -> its cases

    @property
    def duplicates(self) -> int:
        return self.splits + self.overcount + self.extra_opened

    @property
    def complete(self) -> bool:
        return (
            self.lost == 0
            and self.undercount == 0
            and self.timeline_gaps == 0
            and self.cases_found >= self.expected_cases
        )


def _chunks(items: Sequence[str], size: int = 500) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def take_census(engine: Engine, expected: dict[str, int]) -> Census:
    """What the database holds for the reports in ``expected`` (report id → group)."""
    ids = list(expected)
    case_of: dict[str, str] = {}
    with engine.connect() as conn:
        for chunk in _chunks(ids):
            for rid, cid in conn.execute(
                select(reports.c.id, reports.c.case_id).where(reports.c.id.in_(chunk))
            ):
                case_of[rid] = cid
        case_ids = sorted(set(case_of.values()))
        counts: dict[str, tuple[int, int]] = {}
        versions: dict[str, list[int]] = defaultdict(list)
        opened: Counter[str] = Counter()
        for chunk in _chunks(case_ids):
            for cid, report_count, version in conn.execute(
                select(cases.c.id, cases.c.report_count, cases.c.version).where(
                    cases.c.id.in_(chunk)
                )
            ):
                counts[cid] = (int(report_count), int(version))
            for cid, version, type_ in conn.execute(
                select(case_events.c.case_id, case_events.c.version, case_events.c.type).where(
                    case_events.c.case_id.in_(chunk)
                )
            ):
                versions[cid].append(int(version))
                if type_ == "opened":
                    opened[cid] += 1
    groups_of_case: dict[str, set[int]] = defaultdict(set)
    cases_of_group: dict[int, set[str]] = defaultdict(set)
    held: Counter[str] = Counter()
    for rid, cid in case_of.items():
        groups_of_case[cid].add(expected[rid])
        cases_of_group[expected[rid]].add(cid)
        held[cid] += 1
    over = under = 0
    for cid in case_ids:
        report_count = counts.get(cid, (0, 0))[0]
        over += max(0, report_count - held[cid])
        under += max(0, held[cid] - report_count)
    gaps = sum(
        1
        for cid in case_ids
        if sorted(versions[cid]) != list(range(1, counts.get(cid, (0, 0))[1] + 1))
    )
    lost_ids = sorted(set(ids) - set(case_of))
    return Census(
        expected_reports=len(ids),
        expected_cases=len(set(expected.values())),
        found_reports=len(case_of),
        cases_found=len(case_ids),
        lost=len(lost_ids),
        splits=sum(len(c) - 1 for c in cases_of_group.values()),
        wrong_merges=sum(1 for g in groups_of_case.values() if len(g) > 1),
        overcount=over,
        undercount=under,
        extra_opened=sum(max(0, n - 1) for n in opened.values()),
        timeline_gaps=gaps,
        lost_ids=lost_ids[:20],
        split_groups={g: sorted(c) for g, c in cases_of_group.items() if len(c) > 1},
    )


def settle(
    engine: Engine, expected: dict[str, int], timeout: float, quiet: float = 3.0
) -> tuple[Census, float | None]:
    """Wait until every expected report is in its case (or ``timeout``), then until the
    census stops changing for ``quiet`` seconds (late duplicates would show there).
    Returns the census and when it was first complete (monotonic), or None."""
    deadline = time.monotonic() + timeout
    census = take_census(engine, expected)
    while not census.complete and time.monotonic() < deadline:
        time.sleep(0.25)
        census = take_census(engine, expected)
    if not census.complete:
        return census, None
    done = time.monotonic()
    stable_since = time.monotonic()
    while time.monotonic() - stable_since < quiet:
        time.sleep(0.5)
        again = take_census(engine, expected)
        if again != census:
            census, stable_since = again, time.monotonic()
    return census, done


def fill(scenario: Scenario, census: Census) -> None:
    scenario.cases_expected = census.expected_cases
    scenario.cases_found = census.cases_found
    scenario.duplicates = census.duplicates
    scenario.lost = census.lost
    if census.wrong_merges:
        scenario.notes["wrong_merges"] = census.wrong_merges
    if census.undercount:
        scenario.notes["undercount"] = census.undercount
    if census.timeline_gaps:
        scenario.notes["timeline_gaps"] = census.timeline_gaps
    if census.lost_ids:
        scenario.notes["lost_ids"] = census.lost_ids[:5]
    if census.split_groups:
        scenario.notes["split_groups"] = dict(list(census.split_groups.items())[:5])


# -- a hub on its own topics, consumer group and database ----------------------------


@dataclass
class Hub:
    """Worker and gateway processes of one scenario. ``spawn_worker`` gives each
    worker its own home (Faust data dir) and web port."""

    env: HubEnv
    bootstrap: str
    procs: list[HubProcess] = field(default_factory=list)

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.env.env['GRIDHUB_GATEWAY_PORT']}"

    def spawn_worker(self, name: str = "worker") -> HubProcess:
        home = self.env.home / name
        home.mkdir(exist_ok=True)
        port = free_port()  # health and metrics; Faust's own web port stays on loopback
        proc = self.env.spawn(
            "worker",
            GRIDHUB_HOME=str(home),
            GRIDHUB_WORKER_METRICS_PORT=str(port),
            GRIDHUB_WORKER_WEB_PORT=str(free_port()),
        )
        proc.name = f"{name}:{port}"
        self.procs.append(proc)
        return proc

    def spawn_gateway(self) -> HubProcess:
        proc = self.env.spawn("gateway")
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc, code in zip(self.procs, processes.stop_all(self.procs, timeout=15), strict=True):
            print(f"--- {proc.name} (exit {code}) ---\n{proc.log_tail(25)}")


def worker_port(proc: HubProcess) -> int:
    return int(proc.name.rsplit(":", 1)[1])


def http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def wait_ready(proc: HubProcess, url: str, timeout: float) -> None:
    def ready() -> bool:
        if proc.proc.poll() is not None:
            raise AssertionError(f"{proc.name} exited:\n{proc.log_tail()}")
        return http_ok(url)

    wait_until(ready, timeout, f"{proc.name} at {url}", interval=0.3)


def hub_env(
    base: Path,
    bootstrap: str,
    db_url: str,
    *,
    partitions: int = PARTITIONS,
    extra: dict[str, str] | None = None,
) -> HubEnv:
    """Fresh topics (own prefix, own app id = consumer group) on ``bootstrap``."""
    prefix = f"f{uuid.uuid4().hex[:8]}."
    topics = TopicNames.with_prefix(prefix)
    create_topics(bootstrap, topics.all(), partitions, 1)
    home = base / f"home-{prefix.strip('.')}"
    home.mkdir(parents=True, exist_ok=True)
    # The scenarios drive load from one phone or system principal; they test
    # faults, not the rate limits (test_isolation sets its own to test those).
    limits = json.dumps({"grid_worker": "1000/second", "system": "1000/second"})
    env = process_env(
        bootstrap,
        prefix,
        db_url,
        home,
        GRIDHUB_TOPIC_PARTITIONS=str(partitions),
        **{"GRIDHUB_RATE_LIMITS": limits, **(extra or {})},
    )
    return HubEnv(env=env, topics=topics, db_url=db_url, home=home)


def drop_topics(bootstrap: str, topics: TopicNames) -> None:
    try:
        delete_topics(bootstrap, topics.all(), timeout=15)
    except Exception as exc:  # cleanup only
        print(f"could not delete topics {topics.intake}…: {exc}")


# -- load -------------------------------------------------------------------------------


def kafka_producer(bootstrap: str, **extra: Any) -> Any:
    from kafka import KafkaProducer

    config: dict[str, Any] = {"bootstrap_servers": bootstrap, "acks": "all", "linger_ms": 5}
    config.update(extra)
    return KafkaProducer(**config)


class Paced:
    """Send ``items`` through ``send`` at ``rate`` per second in a thread;
    ``sent`` counts them, ``errors`` keeps what ``send`` raised."""

    def __init__(self, items: Sequence[Any], send: Callable[[Any], None], rate: float) -> None:
        self.items = items
        self.send = send
        self.rate = rate
        self.sent = 0
        self.errors: list[BaseException] = []
        self.stop = threading.Event()
        self.finished_at: float | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Paced:
        self.thread.start()
        return self

    def _run(self) -> None:
        started = time.monotonic()
        try:
            for n, item in enumerate(self.items):
                if self.stop.is_set():
                    return
                due = started + n / self.rate
                if (wait := due - time.monotonic()) > 0:
                    time.sleep(wait)
                self.send(item)
                self.sent += 1
        except BaseException as exc:
            self.errors.append(exc)
        finally:
            self.finished_at = time.monotonic()

    def wait_sent(self, count: int, timeout: float) -> None:
        wait_until(
            lambda: self.sent >= count or self.errors or self.finished_at,
            timeout,
            f"{count} events sent",
            interval=0.05,
        )
        assert not self.errors, self.errors

    def join(self, timeout: float) -> None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the load did not finish in time"
        assert not self.errors, self.errors


def committed_offsets(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    from kafka.admin import KafkaAdminClient

    admin: Any = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    try:
        offsets = admin.list_group_offsets({group: None}).get(group, {})
    finally:
        admin.close()
    return {tp.partition: int(meta.offset) for tp, meta in offsets.items() if tp.topic == topic}


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    from kafka import KafkaConsumer, TopicPartition

    consumer: Any = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return {tp.partition: int(off) for tp, off in consumer.end_offsets(parts).items()}
    finally:
        consumer.close()


def read_topic(bootstrap: str, topic: str, timeout: float = 5.0) -> list[Any]:
    """Every record of ``topic`` up to its end offsets now."""
    from kafka import KafkaConsumer, TopicPartition

    consumer: Any = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        ends = consumer.end_offsets(parts)
        out: list[Any] = []
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < ends[tp] for tp in parts):
            if time.monotonic() > deadline:
                raise AssertionError(f"could not read {topic} to its end")
            for batch in consumer.poll(timeout_ms=500).values():
                out += batch
        return out
    finally:
        consumer.close()


def expected_of(plan: Plan, only: Iterable[str] | None = None) -> dict[str, int]:
    """Report id → group for the reports that must end in the database."""
    wanted = None if only is None else set(only)
    return {rid: p.group for rid, p in plan.distinct.items() if wanted is None or rid in wanted}


def engine_for(url: str) -> Engine:
    return make_engine(url, pool_size=2, max_overflow=0)


# Every category of the demo taxonomy whose merge radius is ≤ 200 m (flooding's is 300 m).
CATEGORIES = (
    "manhole_cover",
    "road_damage",
    "street_light",
    "water_leak",
    "garbage",
    "illegal_parking",
    "noise",
    "neighbour_dispute",
    "gas_smell",
    "fire_hazard",
    "illegal_construction",
    "other",
)


def partition_of(key: str, partitions: int = PARTITIONS) -> int:
    """The partition Kafka's default partitioner picks for ``key`` (murmur2)."""
    from kafka.partitioner.default import murmur2

    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


def explain(engine: Engine, plan: Plan, census: Census, partitions: int = PARTITIONS) -> str:
    """Evidence for a failed census: each split group's cases with their timelines, and
    the lost reports with their community and partition of ``gridhub.reports``."""
    lines = []
    by_group: dict[int, list[Planned]] = defaultdict(list)
    for planned in plan.distinct.values():
        by_group[planned.group].append(planned)
    with engine.connect() as conn:
        for group, case_ids in list(census.split_groups.items())[:10]:
            first = by_group[group][0]
            lines.append(
                f"group {group} ({first.category}, community {first.community}, "
                f"reports partition {partition_of(first.community, partitions)}) "
                f"split over {len(case_ids)} cases:"
            )
            for cid in case_ids:
                held = [
                    r
                    for (r,) in conn.execute(
                        select(reports.c.id).where(reports.c.case_id == cid).order_by(reports.c.id)
                    )
                ]
                timeline = [
                    f"v{v} {t} {ts:%H:%M:%S.%f}"
                    for v, t, ts in conn.execute(
                        select(case_events.c.version, case_events.c.type, case_events.c.time)
                        .where(case_events.c.case_id == cid)
                        .order_by(case_events.c.version)
                    )
                ]
                lines.append(f"  case {cid}: reports {held}; timeline {timeline}")
    for rid in census.lost_ids[:10]:
        planned = plan.distinct[rid]
        lines.append(
            f"lost report {rid} (group {planned.group}, {planned.category}, community "
            f"{planned.community}, reports partition {partition_of(planned.community, partitions)})"
        )
    return "\n".join(lines)


def trace_ids(bootstrap: str, topics: TopicNames, group: str, ids: Sequence[str]) -> str:
    """Where the given report ids are on the hub's topics (partition/offset of each
    record whose key or value mentions them), with the group's committed offsets:
    tells which stage dropped them."""
    lines = []
    for topic in (topics.intake, topics.reports, topics.case_events):
        records = read_topic(bootstrap, topic, timeout=30)
        committed = committed_offsets(bootstrap, group, topic)
        lines.append(
            f"{topic}: {len(records)} records, committed {dict(sorted(committed.items()))}"
        )
        for rid in ids:
            needle = rid.encode()
            hits = [
                f"p{r.partition}@{r.offset}"
                for r in records
                if needle in (r.value or b"") or needle in (r.key or b"")
            ]
            lines.append(f"  {rid}: {hits or 'absent'}")
    return "\n".join(lines)
