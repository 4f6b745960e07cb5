"""``gridhub bench``: the performance targets of DESIGN.md §9, measured in one run.

1. **Baseline** — a tuned one-hop aiokafka pass-through on the same broker: N
   CloudEvent-sized records pre-produced to topic A, then copied to topic B by a
   consumer fetching with ``getmany(max_records=...)`` and a lingering, batching
   producer (acks=all, like the worker). Timed from the first record fetched to
   the last one acknowledged.
2. **Full loop** — N distinct report CloudEvents (structured mode, every demo grid
   and category) pre-produced to a fresh ``gridhub.intake``; then one real
   ``gridhub worker`` process starts, and the clock runs from the first report row
   in the database to the N-th (sustained rate; the rate from the worker's
   "ready" is shown too). Reports are counted, not cases: near-duplicates merge.
   Once on PostgreSQL and once on SQLite, each on a fresh database and topics.
3. **Latency** — with the PostgreSQL worker still running, a real ``gridhub
   gateway`` gets ``POST /api/v1/reports`` at a fixed rate; per report, the time
   from its HTTP 202 to its row in the ``reports`` table (polled every 5 ms).

Everything it starts (broker, PostgreSQL, worker, gateway, temp dirs, topics and
databases on servers it was given) is stopped or removed at the end, also on
Ctrl-C or failure. All load goes to 127.0.0.1 (or the broker/database given).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import platform
import secrets
import shutil
import sqlite3
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Connection, Engine, func, select, text

from gridhub.console import StatusLine
from gridhub.local.processes import HubProcess, free_port, spawn, stop_all
from gridhub.settings import Settings
from gridhub.simulate import TrafficGenerator
from gridhub.topics import create_topics
from routing.district import District
from schemas.topics import TopicNames
from sinks.db import make_engine, upgrade
from sinks.models import cases, reports
from sinks.tokens import TokenStore

Record = tuple[bytes, bytes, list[tuple[str, bytes]]]  # key, value, headers

# DESIGN.md §9.
TARGET_PIPELINE_EPS = 10_000.0
TARGET_RATIO = 0.5
TARGET_P50_MS = 50.0
TARGET_P99_MS = 250.0

_READY_MARKERS = ("Ready", " OK ^", "😊")
_SAMPLE_SECONDS = 0.1


class BenchError(RuntimeError):
    """A phase could not be measured (a process died, events went missing, a timeout)."""


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class BenchConfig:
    events: int = 20_000
    rate: float = 500.0
    latency_seconds: float = 5.0
    postgres_url: str | None = None  # a server URL whose user may CREATE DATABASE
    bootstrap: str | None = None
    partitions: int = 4
    seed: int = 1
    keep_logs: Path | None = None  # copy worker/gateway logs here at the end

    def __post_init__(self) -> None:
        if self.events < 1 or self.rate <= 0 or self.latency_seconds <= 0:
            raise ValueError("events, rate and latency seconds must be positive")

    stall_seconds: float = 120.0  # a phase whose counters stop moving this long fails

    @property
    def phase_timeout(self) -> float:
        """Generous (25 events/s): a slow pipeline is still measured; a stuck one
        ends after ``stall_seconds`` without progress."""
        return 300.0 + self.events / 25.0


@dataclass
class StageRate:
    """One stage's output over the pipeline phase, from the sampled counters."""

    name: str
    records: int
    first: float | None  # seconds after the worker spawned
    last: float | None

    @property
    def rate(self) -> float:
        if self.first is None or self.last is None or self.last <= self.first:
            return 0.0
        return self.records / (self.last - self.first)


@dataclass
class PipelineRun:
    backend: str
    events: int
    spawned_at: float
    ready_at: float | None
    first_row_at: float
    done_at: float
    cases: int
    stages: list[StageRate] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)  # % of one core, while it ran
    topic_records: dict[str, int] = field(default_factory=dict)  # records per topic, at the end

    @property
    def eps(self) -> float:
        """Sustained: N reports / (N-th row - first row)."""
        return self.events / max(self.done_at - self.first_row_at, 1e-6)

    @property
    def eps_from_ready(self) -> float | None:
        if self.ready_at is None or self.done_at <= self.ready_at:
            return None
        return self.events / (self.done_at - self.ready_at)

    @property
    def startup(self) -> float | None:
        return None if self.ready_at is None else self.ready_at - self.spawned_at


@dataclass
class LatencyRun:
    rate: float
    seconds: float
    sent: int
    accepted: int
    seen: int
    failed: int
    unfinished: int
    retried: int
    first_failure: str
    achieved_rate: float
    latencies_ms: list[float]
    http_ms: list[float]
    cpu: dict[str, float] = field(default_factory=dict)  # % of one core, incl. warm-up
    backlog_wait: float = 0.0  # seconds waited for the worker to be idle first
    backlog_left: int = 0  # records it was still behind when the latency started

    @property
    def p50(self) -> float:
        return percentile(self.latencies_ms, 50)

    @property
    def p99(self) -> float:
        return percentile(self.latencies_ms, 99)


@dataclass
class BenchResult:
    events: int
    baseline_eps: float
    pipelines: dict[str, PipelineRun]
    latency: LatencyRun
    machine: dict[str, Any]

    @property
    def ratio(self) -> float:
        return self.pipelines["postgresql"].eps / self.baseline_eps if self.baseline_eps else 0.0

    def to_json(self) -> dict[str, Any]:
        """Exactly the keys of DESIGN.md §9."""
        return {
            "baseline_eps": round(self.baseline_eps, 1),
            "pipeline_eps": {
                "postgresql": round(self.pipelines["postgresql"].eps, 1),
                "sqlite": round(self.pipelines["sqlite"].eps, 1),
            },
            "ratio": round(self.ratio, 4),
            "latency_ms": {"p50": round(self.latency.p50, 2), "p99": round(self.latency.p99, 2)},
            "events": self.events,
            "machine": self.machine,
        }


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


# --------------------------------------------------------------------------- machine


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def broker_version(bootstrap: str) -> str:
    """The broker's version as its API versions tell it (kafka-python's probe)."""
    from kafka.admin import KafkaAdminClient

    try:
        admin: Any = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="gridhub-bench")
    except Exception:  # only informative
        return "unknown"
    try:
        version = admin._manager.broker_version  # private, but the only place it is kept
        return ".".join(str(v) for v in version) + "+ (from API versions)" if version else "unknown"
    except Exception:  # only informative
        return "unknown"
    finally:
        admin.close()


def postgres_version(engine: Engine) -> str:
    with engine.connect() as conn:
        return str(conn.execute(text("SHOW server_version")).scalar_one())


def machine_info(kafka: str, postgresql: str) -> dict[str, Any]:
    return {
        "cores": os.cpu_count() or 0,
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "kafka": kafka,
        "postgresql": postgresql,
        "sqlite": sqlite3.sqlite_version,
        "os": platform.platform(terse=True),
        "loadavg_at_start": round(os.getloadavg()[0], 2),
    }


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None


def cpu_seconds(pid: int, children: bool = False) -> float | None:
    """User + system CPU seconds of a process (Linux procfs), with ``children`` also
    those of its live direct children (a PostgreSQL server is its postmaster plus
    one backend per connection)."""
    fields = _stat(pid)
    if fields is None:
        return None
    ticks = int(fields[11]) + int(fields[12])
    for entry in os.scandir("/proc") if children else ():
        if entry.name.isdigit() and int(entry.name) != pid:
            child = _stat(int(entry.name))
            if child is not None and child[1] == str(pid):
                ticks += int(child[11]) + int(child[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def postmaster_pid(data_dir: Path) -> int | None:
    try:
        return int((data_dir / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, IndexError, ValueError):
        return None


def machine_busy_seconds() -> float | None:
    """CPU seconds spent not idle, summed over all cores."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU use of some processes and of the whole machine between two points."""

    def __init__(self, pids: Mapping[str, int | None], trees: frozenset[str] = frozenset()) -> None:
        self.pids = {name: pid for name, pid in pids.items() if pid}
        self.trees = trees
        self.started = time.monotonic()
        self.start = {name: cpu_seconds(pid, name in trees) for name, pid in self.pids.items()}
        self.machine = machine_busy_seconds()

    def percent(self) -> dict[str, float]:
        """% of one core per process, and ``machine`` as % of one core summed over all."""
        wall = max(time.monotonic() - self.started, 1e-6)
        out: dict[str, float] = {}
        for name, pid in self.pids.items():
            before, after = self.start.get(name), cpu_seconds(pid, name in self.trees)
            if before is not None and after is not None:
                out[name] = 100.0 * (after - before) / wall
        busy = machine_busy_seconds()
        if self.machine is not None and busy is not None:
            out["machine"] = 100.0 * (busy - self.machine) / wall
        return out


# --------------------------------------------------------------------------- Kafka I/O


def report_records(count: int, district: District, seed: int) -> list[Record]:
    """``count`` distinct report CloudEvents, structured mode, keyed by report id."""
    generator = TrafficGenerator(district, seed)
    now = datetime.now(UTC)
    out: list[Record] = []
    for _ in range(count):
        inbound = generator.grid_report(now)
        value, headers = inbound.encode()
        out.append((inbound.key, value, headers))
    return out


async def produce_all(
    bootstrap: str, topic: str, records: Sequence[Record], status: StatusLine, label: str
) -> float:
    """Send every record (batched, lingering) and wait for all acks; seconds taken."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id="gridhub-bench-load",
        acks="all",
        linger_ms=20,
        max_batch_size=512 * 1024,
        max_request_size=4 * 1024 * 1024,
    )
    await producer.start()
    try:
        started = time.perf_counter()
        futures = []
        for n, (key, value, headers) in enumerate(records, 1):
            futures.append(await producer.send(topic, value=value, key=key, headers=headers))
            if n % 1000 == 0:
                elapsed = time.perf_counter() - started
                status.show(f"{label}: {n}/{len(records)} {n / elapsed:,.0f}/s")
        await asyncio.gather(*futures)
        elapsed = time.perf_counter() - started
        status.show(f"{label}: {len(records)}/{len(records)} done in {elapsed:.1f}s", force=True)
        return elapsed
    finally:
        await producer.stop()


async def baseline_pass_through(
    bootstrap: str,
    source: str,
    target: str,
    expected: int,
    group: str,
    status: StatusLine,
    timeout: float,
) -> float:
    """Copy ``expected`` records from ``source`` to ``target``: events/s from the first
    record fetched to the last one acknowledged by the broker."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=bootstrap,
        client_id="gridhub-bench-baseline",
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=True,
        auto_commit_interval_ms=1000,
        fetch_max_wait_ms=50,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id="gridhub-bench-baseline",
        acks="all",
        linger_ms=5,
        max_batch_size=256 * 1024,
        max_request_size=4 * 1024 * 1024,
    )
    await producer.start()
    await consumer.start()
    try:
        deadline = time.monotonic() + timeout
        copied = 0
        first: float | None = None
        futures = []
        while copied < expected:
            if time.monotonic() > deadline:
                raise BenchError(f"baseline: copied {copied}/{expected} before the timeout")
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            if batches and first is None:
                first = time.perf_counter()
            for records in batches.values():
                for record in records:
                    futures.append(
                        await producer.send(
                            target, value=record.value, key=record.key, headers=list(record.headers)
                        )
                    )
                copied += len(records)
            if first is not None:
                elapsed = time.perf_counter() - first
                status.show(
                    f"baseline pass-through: {copied}/{expected} "
                    f"{copied / elapsed if elapsed > 0 else 0:,.0f}/s"
                )
        await asyncio.gather(*futures)
        if first is None:
            raise BenchError("baseline: nothing was copied")
        elapsed = time.perf_counter() - first
        status.show(f"baseline pass-through: {copied}/{expected} in {elapsed:.2f}s", force=True)
        return copied / elapsed
    finally:
        await consumer.stop()
        await producer.stop()


class OffsetReader:
    """End offsets of some topics (sums over their partitions), with kafka-python."""

    def __init__(self, bootstrap: str, topics: Sequence[str]) -> None:
        from kafka import KafkaConsumer, TopicPartition

        self._consumer: Any = KafkaConsumer(
            bootstrap_servers=bootstrap, client_id="gridhub-bench-offsets", group_id=None
        )
        self._tps: dict[str, list[Any]] = {}
        for topic in topics:
            parts = self._consumer.partitions_for_topic(topic) or set()
            self._tps[topic] = [TopicPartition(topic, p) for p in sorted(parts)]

    def ends(self) -> dict[str, int]:
        every = [tp for tps in self._tps.values() for tp in tps]
        offsets = self._consumer.end_offsets(every)
        return {topic: sum(int(offsets[tp]) for tp in tps) for topic, tps in self._tps.items()}

    def close(self) -> None:
        self._consumer.close()


def topic_records(bootstrap: str, prefix: str) -> dict[str, int]:
    """Records in every topic whose name starts with ``prefix`` (the hub's topics and
    the worker's table changelogs), by name without the prefix; {} if unknown."""
    from kafka import KafkaConsumer, TopicPartition

    try:
        consumer: Any = KafkaConsumer(
            bootstrap_servers=bootstrap, client_id="gridhub-bench-count", group_id=None
        )
    except Exception:  # only informative
        return {}
    try:
        names = [t for t in consumer.topics() if t.startswith(prefix)]
        every = [
            TopicPartition(t, p) for t in names for p in consumer.partitions_for_topic(t) or ()
        ]
        ends = consumer.end_offsets(every)
        out: dict[str, int] = {}
        for tp in every:
            name = tp.topic[len(prefix) :].lstrip(".-")
            out[name] = out.get(name, 0) + int(ends[tp])
        return {name: n for name, n in sorted(out.items()) if n}
    except Exception:  # only informative
        return {}
    finally:
        consumer.close()


def group_lag(bootstrap: str, group: str) -> int | None:
    """Records not yet committed by ``group`` on every topic it has committed on
    (None if it has committed nothing yet)."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.admin import KafkaAdminClient

    admin: Any = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="gridhub-bench-lag")
    consumer: Any = KafkaConsumer(
        bootstrap_servers=bootstrap, client_id="gridhub-bench-lag", group_id=None
    )
    try:
        committed = admin.list_group_offsets({group: None}).get(group) or {}
        if not committed:
            return None
        every = [
            TopicPartition(topic, p)
            for topic in {tp.topic for tp in committed}
            for p in consumer.partitions_for_topic(topic) or ()
        ]
        ends = consumer.end_offsets(every)
        done = {tp: max(0, int(meta.offset)) for tp, meta in committed.items()}
        return sum(max(0, int(ends[tp]) - done.get(tp, 0)) for tp in every)
    finally:
        consumer.close()
        admin.close()


# --------------------------------------------------------------------------- latency


class SeenTracker:
    """A thread that polls the ``reports`` table every ``interval`` seconds for the
    pending report ids and notes when each first shows up (``time.perf_counter``)."""

    def __init__(self, engine: Engine, interval: float = 0.005) -> None:
        self.engine = engine
        self.interval = interval
        self.seen: dict[str, float] = {}
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-seen", daemon=True)
        self.error: BaseException | None = None

    def expect(self, report_id: str) -> None:
        with self._lock:
            if report_id not in self.seen:
                self._pending.add(report_id)

    def forget(self, report_id: str) -> None:
        with self._lock:
            self._pending.discard(report_id)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)

    def _run(self) -> None:
        try:
            with self.engine.connect() as conn:
                lookup = self._lookup(conn)
                while not self._stop.is_set():
                    with self._lock:
                        ids = list(self._pending)
                    if ids:
                        found = lookup(ids)
                        at = time.perf_counter()
                        with self._lock:
                            for report_id in found:
                                self.seen.setdefault(report_id, at)
                                self._pending.discard(report_id)
                    self._stop.wait(self.interval)
        except BaseException as exc:  # reported by the caller
            self.error = exc

    def _lookup(self, conn: Connection) -> Callable[[list[str]], list[str]]:
        """The cheapest query per poll: polling every 5 ms must not eat the CPU the
        system under test needs (one ``= ANY(array)`` statement on PostgreSQL)."""
        if conn.dialect.name == "postgresql":
            raw: Any = conn.connection.dbapi_connection
            raw.autocommit = True  # each poll sees the latest commits

            def on_postgres(ids: list[str]) -> list[str]:
                with raw.cursor() as cursor:
                    cursor.execute("SELECT id FROM reports WHERE id = ANY(%s)", (ids,))
                    return [str(row[0]) for row in cursor.fetchall()]

            return on_postgres

        def generic(ids: list[str]) -> list[str]:
            found: list[str] = []
            for start in range(0, len(ids), 500):
                query = select(reports.c.id).where(reports.c.id.in_(ids[start : start + 500]))
                found += [str(row[0]) for row in conn.execute(query)]
            conn.rollback()  # a fresh snapshot for the next poll
            return found

        return generic


async def measure_latency(
    base_url: str,
    token: str,
    bodies: Sequence[tuple[str, dict[str, Any]]],
    rate: float,
    tracker: SeenTracker,
    status: StatusLine,
    warmup: Sequence[tuple[str, dict[str, Any]]] = (),
    settle_seconds: float = 30.0,
) -> LatencyRun:
    """POST ``bodies`` at ``rate``/s (open loop: each at its own start time) and
    measure HTTP 202 → report row first seen in the database."""
    concurrency = max(8, math.ceil(rate / 25))
    accepted_at: dict[str, float] = {}
    http_ms: list[float] = []
    failures: list[str] = []
    retries: list[str] = []

    async with contextlib.AsyncExitStack() as clients:
        # One single-connection client per in-flight request, handed out by a queue:
        # a shared pool re-scans all its connections (and every waiter) on each
        # request, which on this box costs the client a good part of a core.
        idle: asyncio.Queue[httpx.AsyncClient] = asyncio.Queue()
        for _ in range(concurrency):
            idle.put_nowait(
                await clients.enter_async_context(
                    httpx.AsyncClient(
                        base_url=base_url,
                        headers={"Authorization": f"Bearer {token}"},
                        limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
                        timeout=httpx.Timeout(30.0),
                    )
                )
            )

        async def post(report_id: str, body: dict[str, Any], record: bool) -> None:
            client = await idle.get()
            try:
                await send(client, report_id, body, record)
            finally:
                idle.put_nowait(client)

        async def send(
            client: httpx.AsyncClient, report_id: str, body: dict[str, Any], record: bool
        ) -> None:
            tracker.expect(report_id)
            begun = time.perf_counter()
            for attempt in range(3):
                try:
                    response = await client.post("/api/v1/reports", json=body)
                    break
                except (httpx.ReadError, httpx.RemoteProtocolError, httpx.WriteError) as exc:
                    # A keep-alive connection the server closed as we reused it: a
                    # phone would retry the same report id, harmlessly.
                    if attempt == 2:
                        tracker.forget(report_id)
                        failures.append(f"{type(exc).__name__}: {exc!r}")
                        return
                    retries.append(report_id)
                    begun = time.perf_counter()
                except httpx.HTTPError as exc:
                    tracker.forget(report_id)
                    failures.append(f"{type(exc).__name__}: {exc!r}")
                    return
            done = time.perf_counter()
            if response.status_code != 202:
                tracker.forget(report_id)
                failures.append(f"HTTP {response.status_code}: {response.text[:200]}")
                return
            if record:
                accepted_at[report_id] = done
                http_ms.append(1000.0 * (done - begun))

        # Warm-up (not measured): connections, the gateway's producer, the worker's fetch.
        await asyncio.gather(*(post(rid, body, False) for rid, body in warmup))
        warm_deadline = time.monotonic() + settle_seconds
        while warmup and tracker.pending and time.monotonic() < warm_deadline:
            await asyncio.sleep(0.05)
        if failures:
            raise BenchError(f"latency warm-up: {failures[0]}")

        tasks: list[asyncio.Task[None]] = []
        started = time.perf_counter()
        for n, (report_id, body) in enumerate(bodies):
            delay = started + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(post(report_id, body, True)))
            elapsed = time.perf_counter() - started
            status.show(
                f"latency: {n + 1}/{len(bodies)} sent {(n + 1) / elapsed if elapsed else 0:,.0f}/s"
                f", {len(tracker.seen)} seen"
            )
        budget = max(60.0, 10 * len(bodies) / rate)
        _, unfinished = await asyncio.wait(tasks, timeout=budget)
        for task in unfinished:
            task.cancel()
        await asyncio.gather(*unfinished, return_exceptions=True)
        send_seconds = time.perf_counter() - started
        deadline = time.monotonic() + settle_seconds
        while tracker.pending and time.monotonic() < deadline:
            if tracker.error is not None:
                raise BenchError(f"latency: polling the database failed: {tracker.error}")
            await asyncio.sleep(0.02)

    latencies = [
        max(0.0, 1000.0 * (tracker.seen[rid] - at))
        for rid, at in accepted_at.items()
        if rid in tracker.seen
    ]
    status.show(
        f"latency: {len(bodies)} sent, {len(latencies)}/{len(accepted_at)} seen", force=True
    )
    if not latencies:
        first = failures[0] if failures else "no report row showed up"
        raise BenchError(f"latency: nothing measured ({len(failures)} failed; {first})")
    return LatencyRun(
        rate=rate,
        seconds=len(bodies) / rate,
        sent=len(bodies),
        accepted=len(accepted_at),
        seen=len(latencies),
        failed=len(failures),
        unfinished=len(unfinished),
        retried=len(retries),
        first_failure=failures[0] if failures else "",
        achieved_rate=len(accepted_at) / send_seconds if send_seconds > 0 else 0.0,
        latencies_ms=latencies,
        http_ms=http_ms,
    )


# --------------------------------------------------------------------------- the run


class Bench:
    """One bench run; :meth:`run` cleans up everything it started, whatever happens."""

    def __init__(self, config: BenchConfig, status: StatusLine | None = None) -> None:
        self.config = config
        self.status = status or StatusLine()
        self.settings = Settings()
        self.run_id = f"bench{uuid.uuid4().hex[:8]}"
        self.stack = contextlib.ExitStack()
        self.tmp = Path()  # made by run()
        self.postgres_pid: int | None = None
        self.secret = secrets.token_urlsafe(24)
        self.bootstrap = ""
        self.broker_pid: int | None = None
        self.kafka_version = ""
        self.processes: list[HubProcess] = []

    # ---------------------------------------------------------------- set-up

    def say(self, message: str) -> None:
        self.status.done()
        self.status.out.write(message + "\n")
        self.status.out.flush()

    def _start_broker(self) -> None:
        given = self.config.bootstrap or self.settings.kafka_bootstrap
        if given:
            self.bootstrap = given
            self.kafka_version = broker_version(given)
            self.stack.callback(self._drop_topics_and_groups)
            return
        from gridhub.local.kafka import start_on_free_ports

        self.say("starting a throwaway Kafka broker ...")
        broker = start_on_free_ports(
            self.tmp / "kafka",
            wait_seconds=90,
            version=self.settings.kafka_version,
            cache_dir=self.settings.kafka_cache,
            heap=self.settings.kafka_heap,
            num_partitions=self.config.partitions,
        )
        self.stack.callback(broker.stop)
        self.bootstrap = broker.bootstrap
        self.broker_pid = broker.pid
        self.kafka_version = broker.version

    def _start_postgres(self) -> str:
        """A server URL on which databases can be created."""
        from gridhub.local.postgres import LocalPostgres

        if self.config.postgres_url:
            return self.config.postgres_url
        self.say("starting a throwaway PostgreSQL server ...")
        # Not under self.tmp: the server may run as the postgres user, which must reach it.
        base = Path(tempfile.mkdtemp(prefix="gridhub-bench-pg-"))
        self.stack.callback(shutil.rmtree, base, ignore_errors=True)
        server = LocalPostgres(base, free_port())
        self.stack.callback(server.stop)
        server.start()
        self.postgres_pid = postmaster_pid(server.data_dir)
        return server.url()

    def _fresh_postgres(self, server_url: str) -> str:
        from gridhub.local.postgres import create_database_at, drop_database_at

        name = f"gridhub_{self.run_id}"
        url = create_database_at(server_url, name)
        self.stack.callback(drop_database_at, server_url, name)
        return url

    def _drop_topics_and_groups(self) -> None:
        """On a broker we did not start: remove this run's topics (ours and the
        worker's internal ones, all named after the run id) and consumer groups."""
        from kafka.admin import KafkaAdminClient

        from gridhub.topics import delete_topics

        try:
            admin: Any = KafkaAdminClient(
                bootstrap_servers=self.bootstrap, client_id="gridhub-bench"
            )
            try:
                ours = [t for t in admin.list_topics() if t.startswith(self.run_id)]
                groups = [
                    g.get("group_id")
                    if isinstance(g, dict)
                    else g[0]
                    if isinstance(g, tuple)
                    else g
                    for g in admin.list_groups()
                ]
                mine = [g for g in groups if isinstance(g, str) and g.startswith(self.run_id)]
                if mine:
                    with contextlib.suppress(Exception):
                        admin.delete_groups(mine)
            finally:
                admin.close()
            if ours:
                delete_topics(self.bootstrap, ours, timeout=30)
        except Exception as exc:  # cleanup only
            self.say(f"note: could not remove bench topics {self.run_id}*: {exc}")

    def _hub_env(self, backend: str, db_url: str) -> dict[str, str]:
        home = self.tmp / f"home-{backend}"
        home.mkdir(exist_ok=True)
        return {
            **os.environ,
            "GRIDHUB_KAFKA_BOOTSTRAP": self.bootstrap,
            "GRIDHUB_TOPIC_PREFIX": f"{self.run_id}-{backend}.",
            "GRIDHUB_APP_ID": f"{self.run_id}-{backend}-worker",
            "GRIDHUB_DATABASE_URL": db_url,
            "GRIDHUB_HOME": str(home),
            "GRIDHUB_WORKER_WEB_PORT": str(free_port()),
            "GRIDHUB_GATEWAY_PORT": str(free_port()),
            "GRIDHUB_TOPIC_PARTITIONS": str(self.config.partitions),
            "GRIDHUB_TOKEN_SECRET": self.secret,
        }

    def _spawn(self, verb: str, env: Mapping[str, str], tag: str) -> HubProcess:
        process = spawn(verb, env, self.tmp)
        self.processes.append(process)
        if self.config.keep_logs is not None:
            # Registered first, so it runs after the stop below (LIFO).
            self.stack.callback(self._keep_log, process, f"{tag}-{verb}.log")
        self.stack.callback(process.stop)
        return process

    def _keep_log(self, process: HubProcess, name: str) -> None:
        if self.config.keep_logs is None:
            return
        self.config.keep_logs.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            shutil.copyfile(process.log_path, self.config.keep_logs / name)

    # ---------------------------------------------------------------- phases

    def baseline(self, records: Sequence[Record]) -> float:
        source, target = f"{self.run_id}-baseline-in", f"{self.run_id}-baseline-out"
        create_topics(self.bootstrap, [source, target], self.config.partitions, 1)
        asyncio.run(
            produce_all(self.bootstrap, source, records, self.status, "baseline: pre-produce")
        )
        return asyncio.run(
            baseline_pass_through(
                self.bootstrap,
                source,
                target,
                len(records),
                f"{self.run_id}-baseline",
                self.status,
                self.config.phase_timeout,
            )
        )

    def pipeline(
        self, backend: str, db_url: str, records: Sequence[Record]
    ) -> tuple[PipelineRun, HubProcess, dict[str, str]]:
        """Pre-produce, start the worker, time the reports table filling up. The
        worker is left running (the caller stops it, or measures latency first)."""
        env = self._hub_env(backend, db_url)
        names = TopicNames.with_prefix(env["GRIDHUB_TOPIC_PREFIX"])
        create_topics(self.bootstrap, names.all(), self.config.partitions, 1)
        upgrade(db_url)
        asyncio.run(
            produce_all(
                self.bootstrap, names.intake, records, self.status, f"{backend}: pre-produce"
            )
        )
        engine = make_engine(db_url)
        self.stack.callback(engine.dispose)
        offsets = OffsetReader(self.bootstrap, [names.reports, names.case_events, names.intake_dlq])
        try:
            worker = self._spawn("worker", env, backend)
            run = self._watch(backend, worker, engine, offsets, names, len(records))
        finally:
            offsets.close()
        run.topic_records = topic_records(self.bootstrap, f"{self.run_id}-{backend}")
        return run, worker, env

    def _watch(
        self,
        backend: str,
        worker: HubProcess,
        engine: Engine,
        offsets: OffsetReader,
        names: TopicNames,
        expected: int,
    ) -> PipelineRun:
        pids = {
            "worker": worker.pid,
            "broker": self.broker_pid,
            "postgres": self.postgres_pid if backend == "postgresql" else None,
            "bench": os.getpid(),
        }
        meter = CpuMeter(pids, trees=frozenset({"postgres"}))
        deadline = time.monotonic() + self.config.phase_timeout
        ready_at: float | None = None
        first_row: float | None = None
        samples: list[tuple[float, int, int, int]] = []  # t, reports topic, case events, rows
        label = f"{backend}: full loop"
        moved_at, last_counts = time.monotonic(), (0, 0, 0)
        with engine.connect() as conn:
            while True:
                now = time.monotonic()
                if ready_at is None and any(m in worker.log_text() for m in _READY_MARKERS):
                    ready_at = now
                    meter = CpuMeter(pids, trees=frozenset({"postgres"}))  # processing only
                rows = int(conn.execute(select(func.count()).select_from(reports)).scalar_one())
                conn.rollback()
                ends = offsets.ends()
                counts = (ends[names.reports], ends[names.case_events], rows)
                samples.append((now - worker.spawned_at, *counts))
                if counts != last_counts:
                    moved_at, last_counts = now, counts
                if rows and first_row is None:
                    first_row = now
                if first_row is not None:
                    elapsed = now - first_row
                    self.status.show(
                        f"{label}: {rows}/{expected} rows "
                        f"{rows / elapsed if elapsed > 0 else 0:,.0f}/s"
                    )
                else:
                    state = "processing" if ready_at else "starting worker"
                    self.status.show(f"{label}: {state} ({now - worker.spawned_at:.0f}s)")
                if rows >= expected:
                    break
                dead = ends[names.intake_dlq]
                if dead:
                    raise BenchError(
                        f"{backend}: {dead} bench event(s) went to the DLQ {names.intake_dlq}; "
                        f"worker log:\n{worker.log_tail()}"
                    )
                if not worker.alive():
                    raise BenchError(
                        f"{backend}: the worker exited ({worker.proc.returncode}):\n"
                        f"{worker.log_tail()}"
                    )
                if now > deadline or now - moved_at > self.config.stall_seconds:
                    raise BenchError(
                        f"{backend}: only {rows}/{expected} report rows after "
                        f"{now - worker.spawned_at:.0f}s ({now - moved_at:.0f}s without "
                        f"progress); worker log:\n{worker.log_tail()}"
                    )
                time.sleep(_SAMPLE_SECONDS)
            done = time.monotonic()
            cpu = meter.percent()
            case_count = int(conn.execute(select(func.count()).select_from(cases)).scalar_one())
        if first_row is None:
            raise BenchError(f"{backend}: no report row appeared")
        self.status.show(
            f"{label}: {expected}/{expected} rows in {done - first_row:.2f}s", force=True
        )
        return PipelineRun(
            backend=backend,
            events=expected,
            spawned_at=worker.spawned_at,
            ready_at=ready_at,
            first_row_at=first_row,
            done_at=done,
            cases=case_count,
            stages=stage_rates(samples),
            cpu=cpu,
        )

    def _wait_idle(
        self, group: str, worker: HubProcess, timeout: float = 180.0
    ) -> tuple[int, float]:
        """Wait until the worker's group has committed everything (twice in a row);
        returns the records still behind and the seconds waited."""
        started = time.monotonic()
        zero_seen = 0
        lag = 0
        while time.monotonic() - started < timeout:
            if not worker.alive():
                raise BenchError(f"the worker exited:\n{worker.log_tail()}")
            lag = group_lag(self.bootstrap, group) or 0
            zero_seen = zero_seen + 1 if lag == 0 else 0
            if zero_seen >= 2:
                break
            self.status.show(f"latency: waiting for the worker to finish its backlog ({lag} left)")
            time.sleep(1.0)
        return lag, time.monotonic() - started

    def latency(
        self, env: Mapping[str, str], db_url: str, district: District, worker: HubProcess
    ) -> LatencyRun:
        gateway = self._spawn("gateway", env, "postgresql")
        base = f"http://127.0.0.1:{env['GRIDHUB_GATEWAY_PORT']}"
        wait_ready(f"{base}/readyz", gateway, 90, self.status)
        # The worker's other stages (hotspots, report-ups...) may still be working off
        # the throughput phase's backlog: the latency is of an idle worker.
        lag_left, waited = self._wait_idle(env["GRIDHUB_APP_ID"], worker)
        engine = make_engine(db_url)
        self.stack.callback(engine.dispose)
        token, _ = TokenStore(engine, self.secret).create("grid_worker", "gridhub-bench")
        generator = TrafficGenerator(district, self.config.seed + 1)
        now = datetime.now(UTC)

        def body() -> tuple[str, dict[str, Any]]:
            inbound = generator.grid_report(now)
            return inbound.key.decode(), dict(inbound.envelope.data)

        total = max(1, round(self.config.rate * self.config.latency_seconds))
        warmup = [body() for _ in range(min(50, total))]
        bodies = [body() for _ in range(total)]
        poll_engine = make_engine(db_url)  # its own: the tracker sets autocommit
        self.stack.callback(poll_engine.dispose)
        tracker = SeenTracker(poll_engine)
        tracker.start()
        try:
            meter = CpuMeter(
                {
                    "gateway": gateway.pid,
                    "worker": worker.pid,
                    "broker": self.broker_pid,
                    "postgres": self.postgres_pid,
                    "bench": os.getpid(),
                },
                trees=frozenset({"postgres"}),
            )
            run = asyncio.run(
                measure_latency(base, token, bodies, self.config.rate, tracker, self.status, warmup)
            )
            run.cpu = meter.percent()
            run.backlog_wait, run.backlog_left = waited, lag_left
            return run
        finally:
            tracker.stop()

    # ---------------------------------------------------------------- all of it

    def run(self) -> BenchResult:
        with self.stack:
            cfg = self.config
            self.tmp = Path(tempfile.mkdtemp(prefix="gridhub-bench-"))
            self.stack.callback(shutil.rmtree, self.tmp, ignore_errors=True)
            district = District.load(self.settings.rules_dir)
            self._start_broker()
            server_url = self._start_postgres()
            pg_url = self._fresh_postgres(server_url)
            sqlite_url = f"sqlite:///{self.tmp / 'bench.db'}"
            pg_engine = make_engine(pg_url)
            self.stack.callback(pg_engine.dispose)
            machine = machine_info(self.kafka_version, postgres_version(pg_engine))
            self.say(
                f"gridhub bench {self.run_id}: {cfg.events} events, broker {self.bootstrap}, "
                f"{cfg.partitions} partitions"
            )
            records = report_records(cfg.events, district, cfg.seed)

            baseline = self.baseline(records)
            pg_run, pg_worker, pg_env = self.pipeline("postgresql", pg_url, records)
            latency = self.latency(pg_env, pg_url, district, pg_worker)
            stop_all(self.processes)
            sqlite_run, sqlite_worker, _ = self.pipeline("sqlite", sqlite_url, records)
            sqlite_worker.stop()
            self.status.done()
            # Other work on the machine skews every figure: say how busy it was.
            machine["loadavg_at_end"] = round(os.getloadavg()[0], 2)
            return BenchResult(
                events=cfg.events,
                baseline_eps=baseline,
                pipelines={"postgresql": pg_run, "sqlite": sqlite_run},
                latency=latency,
                machine=machine,
            )


def wait_ready(url: str, process: HubProcess, timeout: float, status: StatusLine) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if not process.alive():
            raise BenchError(f"the {process.name} exited:\n{process.log_tail()}")
        if time.monotonic() > deadline:
            raise BenchError(f"{url} not ready after {timeout:.0f}s:\n{process.log_tail()}")
        status.show(f"latency: waiting for the {process.name} ({url})")
        time.sleep(0.25)


def stage_rates(samples: Sequence[tuple[float, int, int, int]]) -> list[StageRate]:
    """Per stage: its output count and when it first/last moved (seconds after spawn)."""
    names = ("intake agent → reports topic", "case agent → case-events topic", "DB writer → rows")
    out: list[StageRate] = []
    for index, name in enumerate(names, start=1):
        series = [(s[0], s[index]) for s in samples]
        final = int(series[-1][1]) if series else 0
        first = next((t for t, v in series if v > 0), None)
        last = next((t for t, v in series if v >= final), None) if final else None
        out.append(StageRate(name, final, first, last))
    return out


# --------------------------------------------------------------------------- report


def _mark(ok: bool) -> str:
    return "✓" if ok else "✗"


def render(result: BenchResult) -> str:
    pg, lite, lat = result.pipelines["postgresql"], result.pipelines["sqlite"], result.latency
    m = result.machine
    rows: list[tuple[str, str, str]] = [
        ("baseline pass-through (aiokafka 1 hop)", f"{result.baseline_eps:,.0f} ev/s", ""),
        (
            "full loop, PostgreSQL",
            f"{pg.eps:,.0f} ev/s",
            f"≥ {TARGET_PIPELINE_EPS:,.0f} ev/s {_mark(pg.eps >= TARGET_PIPELINE_EPS)}",
        ),
        ("full loop, SQLite", f"{lite.eps:,.0f} ev/s", "(no target)"),
        (
            "ratio PostgreSQL / baseline",
            f"{result.ratio:.1%}",
            f"≥ {TARGET_RATIO:.0%} {_mark(result.ratio >= TARGET_RATIO)}",
        ),
        (
            f"latency p50 (202 → row, {lat.rate:g}/s)",
            f"{lat.p50:,.1f} ms",
            f"≤ {TARGET_P50_MS:g} ms {_mark(lat.p50 <= TARGET_P50_MS)}",
        ),
        (
            f"latency p99 (202 → row, {lat.rate:g}/s)",
            f"{lat.p99:,.1f} ms",
            f"≤ {TARGET_P99_MS:g} ms {_mark(lat.p99 <= TARGET_P99_MS)}",
        ),
        ("events", f"{result.events:,}", ""),
    ]
    width = max(len(r[0]) for r in rows)
    value_width = max(len(r[1]) for r in rows)
    lines = [f"{'measure':<{width}}  {'result':>{value_width}}  target (DESIGN.md §9)"]
    lines.append("-" * (width + value_width + 26))
    lines += [f"{a:<{width}}  {b:>{value_width}}  {c}" for a, b, c in rows]
    lines.append("")
    lines.append(
        f"machine: {m['cores']} cores, {m['cpu']}; Python {m['python']}; Kafka {m['kafka']}; "
        f"PostgreSQL {m['postgresql']}; SQLite {m['sqlite']}; "
        f"load average {m['loadavg_at_start']} at start, {m.get('loadavg_at_end', '?')} at end"
    )
    lines.append("")
    lines.append(
        "full loop = N distinct reports pre-produced to gridhub.intake, one worker; "
        "rate = N / (first report row → N-th row)."
    )
    for run in (pg, lite):
        ready = run.eps_from_ready
        startup = run.startup
        lines.append(
            f"  {run.backend}: {run.events} reports → {run.cases} cases; "
            f"first→last row {run.done_at - run.first_row_at:.2f}s"
            + (f"; from worker ready {ready:,.0f} ev/s" if ready else "")
            + (f"; worker start-up {startup:.1f}s" if startup is not None else "")
        )
        for stage in run.stages:
            span = (
                f"{stage.first:6.2f}s → {stage.last:6.2f}s"
                if stage.first is not None and stage.last is not None
                else "—"
            )
            lines.append(
                f"    {stage.name:<32} {stage.records:>8} records  {span}  {stage.rate:>9,.0f}/s"
            )
        if run.topic_records:
            written = {
                name: n for name, n in run.topic_records.items() if not name.endswith("intake")
            }
            lines.append(
                f"    Kafka records written per report: {sum(written.values()) / run.events:.1f} ("
                + ", ".join(
                    f"{name} {n / run.events:.2f}"
                    for name, n in sorted(written.items(), key=lambda kv: -kv[1])
                )
                + ")"
            )
        if run.cpu:
            lines.append(
                "    CPU from worker ready (% of one core): "
                + ", ".join(f"{name} {value:.0f}%" for name, value in run.cpu.items())
                + f" (machine = all {m['cores']} cores summed)"
            )
    http_p50, http_p99 = percentile(lat.http_ms, 50), percentile(lat.http_ms, 99)
    lines.append(
        f"  latency: {lat.sent} reports offered at {lat.rate:g}/s, completed at "
        f"{lat.achieved_rate:,.0f}/s; {lat.seen}/{lat.accepted} seen, {lat.retried} retried; "
        f"HTTP p50 {http_p50:.1f} ms, p99 {http_p99:.1f} ms; "
        f"202 → row max {max(lat.latencies_ms, default=0):.1f} ms"
    )
    lines.append(
        f"    waited {lat.backlog_wait:.0f}s for the worker to work off the throughput backlog"
        + (f" ({lat.backlog_left} records still behind)" if lat.backlog_left else "")
    )
    if lat.cpu:
        lines.append(
            "    CPU (% of one core): "
            + ", ".join(f"{name} {value:.0f}%" for name, value in lat.cpu.items())
        )
    if lat.failed or lat.unfinished or lat.seen < lat.accepted:
        lines.append(
            f"  NOTE: {lat.failed} requests failed, {lat.unfinished} did not finish in time, "
            f"{lat.accepted - lat.seen} accepted reports never showed up"
            + (f"; first failure: {lat.first_failure}" if lat.first_failure else "")
        )
    if lat.achieved_rate < 0.9 * lat.rate:
        lines.append(
            f"  NOTE: the gateway completed only {lat.achieved_rate:,.0f} of the "
            f"{lat.rate:g} reports/s offered, so the latency is not at the target rate"
        )
    return "\n".join(lines)
