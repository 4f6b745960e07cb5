"""One bench run from start to clean-up: :class:`Bench` starts what it needs (a
throwaway broker and PostgreSQL server unless given ones, fresh databases and
topics, worker, baseline and gateway processes), runs the phases in order — the
baselines, the full loop on PostgreSQL, the latency against its workers, the gateway
alone, the full loop on SQLite — and gathers a
:class:`~gridhub.bench.results.BenchResult` (or, for ``--soak``, a
:class:`~gridhub.bench.results.SoakRun`).

Everything it starts or creates is registered on one exit stack as it goes, so it
is all stopped or removed at the end, also on Ctrl-C or a failed phase.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import Engine, func, select

from gridhub.bench.baseline import baseline_pass_through
from gridhub.bench.broker import OffsetReader, drop_topics_and_groups, group_lag, topic_records
from gridhub.bench.gateway_load import run_wrk, write_bodies
from gridhub.bench.hops import group_ids
from gridhub.bench.latency import measure_latency
from gridhub.bench.machine import (
    CpuMeter,
    broker_version,
    machine_info,
    postgres_version,
    postmaster_pid,
    rss_mb,
)
from gridhub.bench.records import Record, more_records, produce_all, report_records
from gridhub.bench.results import (
    BenchConfig,
    BenchError,
    BenchResult,
    GatewayRun,
    LatencyRun,
    PipelineRun,
    SoakRun,
    stage_rates,
)
from gridhub.console import StatusLine
from gridhub.local.processes import HubProcess, free_port, spawn, stop_all
from gridhub.settings import Settings
from gridhub.simulate import TrafficGenerator
from gridhub.topics import create_topics
from routing.district import District
from schemas.envelope import BATCH_CONTENT_TYPE
from schemas.topics import TopicNames
from sinks.db import make_engine, upgrade
from sinks.models import cases, reports
from sinks.tokens import TokenStore

_READY_MARKERS = ("Ready", " OK ^", "😊")
_SAMPLE_SECONDS = 0.1
SOAK_CHUNK = 50_000  # reports produced at a time, as the workers keep up
SOAK_SAMPLE_SECONDS = 10.0


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

    def _fresh_postgres(self, server_url: str, tag: str) -> str:
        from gridhub.local.postgres import create_database_at, drop_database_at

        name = f"gridhub_{self.run_id}_{tag}"
        url = create_database_at(server_url, name)
        self.stack.callback(drop_database_at, server_url, name)
        return url

    def _drop_topics_and_groups(self) -> None:
        """On a broker we did not start: remove this run's topics and consumer groups."""
        try:
            drop_topics_and_groups(self.bootstrap, self.run_id)
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
            "GRIDHUB_ENV": "dev",
            "GRIDHUB_WORKER_WEB_PORT": str(free_port()),
            "GRIDHUB_WORKER_METRICS_PORT": str(free_port()),
            "GRIDHUB_GATEWAY_PORT": str(free_port()),
            "GRIDHUB_METRICS_PORT": str(free_port()),
            "GRIDHUB_TOPIC_PARTITIONS": str(self.config.partitions),
            "GRIDHUB_TOKEN_SECRET": self.secret,
            # The bench offers thousands of reports a second from one grid worker:
            # the limiter stays on the path (its cost is measured), not in the way.
            "GRIDHUB_RATE_LIMITS": json.dumps({"grid_worker": "1000000/second"}),
        }

    def _spawn(
        self, verb: str, env: Mapping[str, str], tag: str, args: Sequence[str] = ()
    ) -> HubProcess:
        process = spawn(verb, env, self.tmp, args=args)
        self.processes.append(process)
        if self.config.keep_logs is not None:
            # Registered first, so it runs after the stop below (LIFO).
            self.stack.callback(self._keep_log, process, f"{tag}-{verb}-{process.pid}.log")
        self.stack.callback(process.stop)
        return process

    def _spawn_workers(self, env: Mapping[str, str], tag: str) -> list[HubProcess]:
        """The worker processes (same app id: they share the partitions), each with
        its own home, web port and metrics port."""
        workers = []
        for n in range(self.config.worker_processes):
            home = Path(env["GRIDHUB_HOME"]) / f"worker-{n}"
            home.mkdir(parents=True, exist_ok=True)
            own = {
                **env,
                "GRIDHUB_HOME": str(home),
                "GRIDHUB_WORKER_WEB_PORT": str(free_port()),
                "GRIDHUB_WORKER_METRICS_PORT": str(free_port()),
            }
            workers.append(self._spawn("worker", own, tag))
        return workers

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

    def hops_baseline(self, server_url: str, records: Sequence[Record]) -> float:
        """The same-hops hand-written program (:mod:`gridhub.bench.hops`) in as many
        processes as the worker gets, timed like the full loop."""
        db_url = self._fresh_postgres(server_url, "hops")
        upgrade(db_url)
        prefix = f"{self.run_id}-hops."
        names = TopicNames.with_prefix(prefix)
        create_topics(self.bootstrap, names.all(), self.config.partitions, 1)
        asyncio.run(
            produce_all(self.bootstrap, names.intake, records, self.status, "hops: pre-produce")
        )
        group = f"{self.run_id}-hops"
        engine = make_engine(db_url)
        self.stack.callback(engine.dispose)
        programs = [
            self._spawn_module(
                "gridhub.bench.hops",
                [
                    "--bootstrap", self.bootstrap, "--prefix", prefix,
                    "--group", group, "--database-url", db_url,
                ],
                f"hops-{n}",
            )
            for n in range(self.config.worker_processes)
        ]  # fmt: skip
        offsets = OffsetReader(self.bootstrap, [names.reports, names.case_events])
        try:
            run = self._watch(
                "same-hops baseline", programs, engine, offsets, names, len(records),
                groups=group_ids(group), ready_markers=("hops baseline ready",),
            )  # fmt: skip
        finally:
            offsets.close()
        stop_all(programs)
        return run.eps

    def _spawn_module(self, module: str, args: Sequence[str], tag: str) -> HubProcess:
        log_path = self.tmp / f"{tag}.log"
        log = log_path.open("ab")
        proc = subprocess.Popen(  # noqa: S603 - this interpreter, our own module
            [sys.executable, "-m", module, *args],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        process = HubProcess(tag, proc, log_path, log)
        self.processes.append(process)
        self.stack.callback(process.stop)
        return process

    def pipeline(
        self, backend: str, db_url: str, records: Sequence[Record]
    ) -> tuple[PipelineRun, list[HubProcess], dict[str, str]]:
        """Pre-produce, start the workers, time the loop until every consumer group is
        at zero lag. The workers are left running (the caller stops them, or measures
        latency first)."""
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
            workers = self._spawn_workers(env, backend)
            run = self._watch(
                backend, workers, engine, offsets, names, len(records),
                groups=[env["GRIDHUB_APP_ID"]], ready_markers=_READY_MARKERS,
            )  # fmt: skip
        finally:
            offsets.close()
        run.topic_records = topic_records(self.bootstrap, f"{self.run_id}-{backend}")
        run.rss_mb = rss_mb(w.pid for w in workers)
        run.processes = len(workers)
        return run, workers, env

    def _watch(
        self,
        backend: str,
        workers: Sequence[HubProcess],
        engine: Engine,
        offsets: OffsetReader,
        names: TopicNames,
        expected: int,
        *,
        groups: Sequence[str],
        ready_markers: Sequence[str],
    ) -> PipelineRun:
        """From the first report row to the moment every consumer group in ``groups``
        has committed everything (hotspot, report-up and webhook work in flight count)."""
        trees = frozenset({"postgres", "worker"})
        pids = {
            "worker": workers[0].pid if len(workers) == 1 else None,
            "broker": self.broker_pid,
            "postgres": self.postgres_pid if backend != "sqlite" else None,
            "bench": os.getpid(),
        }
        pids.update({f"worker{n}": w.pid for n, w in enumerate(workers) if len(workers) > 1})
        meter = CpuMeter(pids, trees=trees)
        spawned_at = min(w.spawned_at for w in workers)
        deadline = time.monotonic() + self.config.phase_timeout
        ready_at: float | None = None
        first_row: float | None = None
        rows_at: float | None = None
        samples: list[tuple[float, int, int, int]] = []  # t, reports topic, case events, rows
        label = f"{backend}: full loop"
        moved_at, last_counts = time.monotonic(), (0, 0, 0)
        zero_since: float | None = None
        with engine.connect() as conn:
            while True:
                now = time.monotonic()
                if ready_at is None and all(
                    any(m in w.log_text() for m in ready_markers) for w in workers
                ):
                    ready_at = now
                    meter = CpuMeter(pids, trees=trees)  # processing only
                rows = int(conn.execute(select(func.count()).select_from(reports)).scalar_one())
                conn.rollback()
                ends = offsets.ends()
                counts = (ends[names.reports], ends[names.case_events], rows)
                samples.append((now - spawned_at, *counts))
                if counts != last_counts:
                    moved_at, last_counts = now, counts
                if rows and first_row is None:
                    # The first row showed since the last sample: start the clock there
                    # (a short run could otherwise finish between two samples).
                    first_row = samples[-2][0] + spawned_at if len(samples) > 1 else now
                if rows >= expected:
                    rows_at = rows_at or now
                    lag = sum(group_lag(self.bootstrap, g) or 0 for g in groups)
                    if lag == 0:
                        if zero_since is not None and now - zero_since >= 1.0:
                            break  # zero twice, a commit interval apart
                        zero_since = zero_since or now
                    else:
                        zero_since = None
                        moved_at = now if lag else moved_at
                    self.status.show(f"{label}: all rows in, {lag} records behind")
                elif first_row is not None:
                    elapsed = now - first_row
                    self.status.show(
                        f"{label}: {rows}/{expected} rows "
                        f"{rows / elapsed if elapsed > 0 else 0:,.0f}/s"
                    )
                else:
                    state = "processing" if ready_at else "starting"
                    self.status.show(f"{label}: {state} ({now - spawned_at:.0f}s)")
                dead = ends.get(names.intake_dlq, 0)
                if dead:
                    raise BenchError(
                        f"{backend}: {dead} bench event(s) went to the DLQ {names.intake_dlq}; "
                        f"log:\n{workers[0].log_tail()}"
                    )
                for worker in workers:
                    if not worker.alive():
                        raise BenchError(
                            f"{backend}: the {worker.name} exited ({worker.proc.returncode}):\n"
                            f"{worker.log_tail()}"
                        )
                if now > deadline or now - moved_at > self.config.stall_seconds:
                    raise BenchError(
                        f"{backend}: only {rows}/{expected} report rows after "
                        f"{now - spawned_at:.0f}s ({now - moved_at:.0f}s without "
                        f"progress); log:\n{workers[0].log_tail()}"
                    )
                time.sleep(_SAMPLE_SECONDS if rows < expected else 0.5)
            done = zero_since if zero_since is not None else time.monotonic()
            cpu = meter.percent()
            if len(workers) > 1:
                cpu["worker"] = sum(v for k, v in cpu.items() if k.startswith("worker"))
            case_count = int(conn.execute(select(func.count()).select_from(cases)).scalar_one())
        if first_row is None:
            raise BenchError(f"{backend}: no report row appeared")
        self.status.show(
            f"{label}: {expected}/{expected} rows, zero lag after {done - first_row:.2f}s",
            force=True,
        )
        return PipelineRun(
            backend=backend,
            events=expected,
            spawned_at=spawned_at,
            ready_at=ready_at,
            first_row_at=first_row,
            done_at=done,
            cases=case_count,
            stages=stage_rates(samples),
            cpu=cpu,
            rows_at=rows_at,
        )

    def _wait_idle(
        self, group: str, workers: Sequence[HubProcess], timeout: float = 180.0
    ) -> tuple[int, float]:
        """Wait until the workers' group has committed everything (twice in a row);
        returns the records still behind and the seconds waited."""
        started = time.monotonic()
        zero_seen = 0
        lag = 0
        while time.monotonic() - started < timeout:
            for worker in workers:
                if not worker.alive():
                    raise BenchError(f"the worker exited:\n{worker.log_tail()}")
            lag = group_lag(self.bootstrap, group) or 0
            zero_seen = zero_seen + 1 if lag == 0 else 0
            if zero_seen >= 2:
                break
            self.status.show(f"latency: waiting for the worker to finish its backlog ({lag} left)")
            time.sleep(1.0)
        return lag, time.monotonic() - started

    def _gateway(self, env: Mapping[str, str], tag: str) -> tuple[HubProcess, str]:
        processes = self.config.gateway_processes or os.cpu_count() or 1
        gateway = self._spawn("gateway", env, tag, args=["--processes", str(processes)])
        base = f"http://127.0.0.1:{env['GRIDHUB_GATEWAY_PORT']}"
        wait_ready(f"{base}/readyz", gateway, 90, self.status)
        return gateway, base

    def latency(
        self,
        env: Mapping[str, str],
        db_url: str,
        district: District,
        workers: Sequence[HubProcess],
        gateway: HubProcess,
        base: str,
    ) -> LatencyRun:
        # The worker's other stages (hotspots, report-ups...) may still be working off
        # the throughput phase's backlog: the latency is of an idle worker.
        lag_left, waited = self._wait_idle(env["GRIDHUB_APP_ID"], workers)
        engine = make_engine(db_url)
        self.stack.callback(engine.dispose)
        store = TokenStore(engine, self.secret)
        token, _ = store.create("grid_worker", "gridhub-bench")
        reader, _ = store.create("operator", "gridhub-bench-reader")
        generator = TrafficGenerator(district, self.config.seed + 1)
        now = datetime.now(UTC)

        def body() -> dict[str, Any]:
            return dict(generator.grid_report(now).envelope.data)  # with its report_id

        total = max(1, round(self.config.rate * self.config.latency_seconds))
        warmup = [body() for _ in range(min(50, total))]
        bodies = [body() for _ in range(total)]
        meter = CpuMeter(
            {
                "gateway": gateway.pid,
                **{f"worker{n}": w.pid for n, w in enumerate(workers)},
                "broker": self.broker_pid,
                "postgres": self.postgres_pid,
                "bench": os.getpid(),
            },
            trees=frozenset({"postgres", "gateway"}),
        )
        run = asyncio.run(
            measure_latency(
                base, token, reader, bodies, self.config.rate, self.status, self.tmp, warmup
            )
        )
        run.cpu = meter.percent()
        run.backlog_wait, run.backlog_left = waited, lag_left
        return run

    def gateway_load(self, db_url: str, gateway: HubProcess, base: str) -> GatewayRun:
        """wrk against the gateway alone (the workers are stopped): single reports,
        then CloudEvents batches."""
        cfg = self.config
        store = TokenStore(make_engine(db_url), self.secret)
        district = District.load(self.settings.rules_dir)
        generator = TrafficGenerator(district, cfg.seed + 2)
        now = datetime.now(UTC)
        phones = [store.create("grid_worker", f"bench-phone-{n}")[0] for n in range(100)]
        singles = []
        for n in range(2000):
            data = dict(generator.grid_report(now).envelope.data)
            data.pop("report_id", None)  # each POST a new report
            singles.append((phones[n % len(phones)], orjson.dumps(data)))
        systems = []
        for n in range(4):
            source = f"urn:gridhub:bench:system-{n}"
            systems.append((source, store.create("system", f"bench-system-{n}", source)[0]))
        batches = []
        for n in range(200):
            source, token = systems[n % len(systems)]
            events = []
            for _ in range(cfg.batch_events):
                event = generator.grid_report(now).envelope.model_dump(mode="json")
                event["source"] = source
                event.pop("submittedby", None)
                events.append({k: v for k, v in event.items() if v is not None})
            batches.append((token, orjson.dumps(events)))
        store.engine.dispose()
        singles_file = write_bodies(self.tmp / "posts.lines", singles)
        batches_file = write_bodies(self.tmp / "batches.lines", batches)
        seconds = cfg.gateway_seconds
        # Warm-up: connections, every process's producer and token cache.
        run_wrk(
            f"{base}/api/v1/reports", singles_file,
            seconds=min(3.0, seconds), connections=cfg.gateway_connections,
        )  # fmt: skip
        self.status.show(f"gateway: {seconds:g}s of single reports (wrk)", force=True)
        meter = CpuMeter(
            {"gateway": gateway.pid, "broker": self.broker_pid, "bench": os.getpid()},
            trees=frozenset({"gateway"}),
        )
        posts = run_wrk(
            f"{base}/api/v1/reports", singles_file,
            seconds=seconds, connections=cfg.gateway_connections,
        )  # fmt: skip
        cpu = meter.percent()
        self.status.show(f"gateway: {seconds:g}s of CloudEvents batches (wrk)", force=True)
        batch = run_wrk(
            f"{base}/api/v1/events", batches_file,
            seconds=seconds, connections=max(2, cfg.gateway_connections // 4),
            content_type=BATCH_CONTENT_TYPE,
        )  # fmt: skip
        return GatewayRun(
            processes=cfg.gateway_processes or os.cpu_count() or 1,
            connections=cfg.gateway_connections,
            posts_per_s=posts.per_second,
            posts_non_2xx=posts.non_2xx,
            posts_errors=posts.socket_errors,
            posts_p99_ms=posts.p99_ms,
            batch_events=cfg.batch_events,
            batches_per_s=batch.per_second,
            batch_non_2xx=batch.non_2xx,
            batch_errors=batch.socket_errors,
            cpu=cpu,
        )

    # ---------------------------------------------------------------- the soak

    def soak(self, server_url: str, district: District) -> SoakRun:
        """``config.soak`` reports through the full loop on PostgreSQL, fed in chunks
        as the workers keep up; the workers' memory sampled as they go."""
        total = self.config.soak or 0
        db_url = self._fresh_postgres(server_url, "soak")
        env = self._hub_env("soak", db_url)
        names = TopicNames.with_prefix(env["GRIDHUB_TOPIC_PREFIX"])
        create_topics(self.bootstrap, names.all(), self.config.partitions, 1)
        upgrade(db_url)
        engine = make_engine(db_url)
        self.stack.callback(engine.dispose)
        workers = self._spawn_workers(env, "soak")
        generator = TrafficGenerator(district, self.config.seed)
        chunk = min(SOAK_CHUNK, total)
        produced, rows, samples = 0, 0, list[tuple[int, float]]()
        started = last_sample = time.monotonic()
        with engine.connect() as conn:
            while rows < total:
                for worker in workers:
                    if not worker.alive():
                        raise BenchError(f"soak: the worker exited:\n{worker.log_tail()}")
                if produced < total and produced - rows < 2 * chunk:
                    batch = more_records(generator, min(chunk, total - produced))
                    asyncio.run(
                        produce_all(self.bootstrap, names.intake, batch, self.status, "soak")
                    )
                    produced += len(batch)
                rows = int(conn.execute(select(func.count()).select_from(reports)).scalar_one())
                conn.rollback()
                now = time.monotonic()
                if now - last_sample >= SOAK_SAMPLE_SECONDS or rows >= total:
                    last_sample = now
                    mb = rss_mb(w.pid for w in workers)
                    if mb is not None:
                        samples.append((rows, mb))
                    self.status.show(
                        f"soak: {rows:,}/{total:,} reports, worker RSS {mb or 0:,.0f} MB",
                        force=True,
                    )
                time.sleep(1.0)
        self._wait_idle(env["GRIDHUB_APP_ID"], workers)
        mb = rss_mb(w.pid for w in workers)
        if mb is not None:
            samples.append((rows, mb))
        return SoakRun(reports=total, rss_mb=samples, seconds=time.monotonic() - started)

    # ---------------------------------------------------------------- all of it

    def _prepare(self) -> tuple[District, str, dict[str, Any]]:
        self.tmp = Path(tempfile.mkdtemp(prefix="gridhub-bench-"))
        self.stack.callback(shutil.rmtree, self.tmp, ignore_errors=True)
        district = District.load(self.settings.rules_dir)
        self._start_broker()
        server_url = self._start_postgres()
        probe = make_engine(self._fresh_postgres(server_url, "probe"))
        try:
            machine = machine_info(self.kafka_version, postgres_version(probe))
        finally:
            probe.dispose()
        return district, server_url, machine

    def run_soak(self) -> tuple[SoakRun, dict[str, Any]]:
        with self.stack:
            district, server_url, machine = self._prepare()
            self.say(f"gridhub bench --soak {self.config.soak}: broker {self.bootstrap}")
            soak = self.soak(server_url, district)
            self.status.done()
            machine["loadavg_at_end"] = round(os.getloadavg()[0], 2)
            return soak, machine

    def run(self) -> BenchResult:
        with self.stack:
            cfg = self.config
            district, server_url, machine = self._prepare()
            pg_url = self._fresh_postgres(server_url, "pg")
            sqlite_url = f"sqlite:///{self.tmp / 'bench.db'}"
            self.say(
                f"gridhub bench {self.run_id}: {cfg.events} events, baselines "
                f"{cfg.baseline_events}, broker {self.bootstrap}, {cfg.partitions} partitions, "
                f"{cfg.worker_processes} worker process(es)"
            )
            records = report_records(max(cfg.events, cfg.baseline_events), district, cfg.seed)

            baseline = self.baseline(records[: cfg.baseline_events])
            hops = self.hops_baseline(server_url, records[: cfg.baseline_events])
            pg_run, pg_workers, pg_env = self.pipeline("postgresql", pg_url, records[: cfg.events])
            gateway, base = self._gateway(pg_env, "postgresql")
            latency = self.latency(pg_env, pg_url, district, pg_workers, gateway, base)
            stop_all(pg_workers)  # the gateway alone from here
            gateway_run = self.gateway_load(pg_url, gateway, base)
            stop_all(self.processes)
            sqlite_run, sqlite_workers, _ = self.pipeline(
                "sqlite", sqlite_url, records[: cfg.events]
            )
            stop_all(sqlite_workers)
            self.status.done()
            # Other work on the machine skews every figure: say how busy it was.
            machine["loadavg_at_end"] = round(os.getloadavg()[0], 2)
            return BenchResult(
                events=cfg.events,
                baseline_eps=baseline,
                baseline_events=cfg.baseline_events,
                hops_baseline_eps=hops,
                pipelines={"postgresql": pg_run, "sqlite": sqlite_run},
                latency=latency,
                gateway=gateway_run,
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
