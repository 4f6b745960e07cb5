"""One bench run from start to clean-up: :class:`Bench` starts what it needs (a
throwaway broker and PostgreSQL server unless given ones, fresh databases and
topics, worker and gateway processes), runs the three phases in order — baseline,
full loop on PostgreSQL then on SQLite, latency against the PostgreSQL worker — and
gathers a :class:`~gridhub.bench.results.BenchResult`.

Everything it starts or creates is registered on one exit stack as it goes, so it
is all stopped or removed at the end, also on Ctrl-C or a failed phase.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, func, select

from gridhub.bench.baseline import baseline_pass_through
from gridhub.bench.broker import OffsetReader, drop_topics_and_groups, group_lag, topic_records
from gridhub.bench.latency import SeenTracker, measure_latency
from gridhub.bench.machine import (
    CpuMeter,
    broker_version,
    machine_info,
    postgres_version,
    postmaster_pid,
)
from gridhub.bench.records import Record, produce_all, report_records
from gridhub.bench.results import (
    BenchConfig,
    BenchError,
    BenchResult,
    LatencyRun,
    PipelineRun,
    stage_rates,
)
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

_READY_MARKERS = ("Ready", " OK ^", "😊")
_SAMPLE_SECONDS = 0.1


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
