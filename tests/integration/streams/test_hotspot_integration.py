"""A synthetic burst of reports on the real broker raises exactly one hotspot alert,
through a real Faust worker process running the case agent (which counts every
report new to its case; its state and changelog and all), and a worker killed
with SIGKILL hands its state on.

Two Faust start-up races shape the set-up (both seen here, both outside this
agent): a worker that creates its tables' changelog topics itself can join the
group before their partitions are in its metadata, and then every table write
raises ``PartitionsMismatch`` (the agent crashes and the event is skipped); and
records fetched while a new worker is still recovering (the fetcher starts
before "Seek stream partitions to committed offsets") can be dropped from the
stream's buffer. So the changelogs are created up front, as a deployment
should, and records are produced once the worker says it is ready. The reports
have no location, so each opens a case of its own; the gas smells also raise
P1 alerts, which the feed here leaves out."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from kafka import KafkaConsumer, KafkaProducer

from gridhub.bootstrap import changelog_topics
from gridhub.topics import create_topics
from routing.district import District
from schemas.alerts import ALERT_TYPE_PREFIX, Alert, AlertKind
from schemas.envelope import decode_kafka
from schemas.reports import Report, community_of, street_of
from sinks.ports import InMemoryCaseSink
from streams.agents import case_agent
from streams.app import build_app
from streams.codecs import encode_report
from streams.config import StreamConfig, StreamDeps
from streams.topics import stage_topics
from tests.fixtures.kafka import DEFAULT_TEST_PARTITIONS
from tests.fixtures.worker import HubEnv, HubProcess, wait_until

pytestmark = [pytest.mark.kafka]

GRID = "990101001001001"
NEIGHBOUR = "990101001001002"  # same community, so same partition as GRID
NINE = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def report(at: datetime, category: str, grid: str = GRID, report_id: str | None = None) -> Report:
    rid = report_id or str(uuid.uuid4())
    return Report(
        id=rid,
        source="urn:test:hotspot-burst",
        source_event_id=rid,
        source_type="org.gridhub.report.submitted",
        category=category,
        description="synthetic burst 合成测试数据",
        grid_code=grid,
        community_code=community_of(grid),
        street_code=street_of(grid),
        occurred_at=at,
        received_at=at,
    )


def case_changelogs(env: HubEnv, tmp_path) -> dict[str, tuple[int, dict[str, str]]]:
    """The changelogs of the case worker's tables, as the composition root finds
    them on a built (never started) app."""
    config = StreamConfig(
        app_id=env.env["GRIDHUB_APP_ID"],
        bootstrap="127.0.0.1:1",  # never contacted: the app is built, not started
        topics=env.topics,
        datadir=tmp_path / "changelogs",
        partitions=DEFAULT_TEST_PARTITIONS,
        web_enabled=False,
    )
    app = build_app(config)
    deps = StreamDeps(district=District.load(), sink=InMemoryCaseSink())
    case_agent.register(app, stage_topics(app, config), config, deps)
    return changelog_topics(app)


def spawn_worker(env: HubEnv, running: list[HubProcess]) -> HubProcess:
    log_path = env.home / f"case-worker-{len(running)}.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.streams.case_worker"],
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
        env={**env.env, "PYTHONUNBUFFERED": "1"},  # the log survives a SIGKILL
    )
    worker = HubProcess(f"case-worker-{len(running)}", proc, log_path)
    running.append(worker)
    return worker


def wait_ready(worker: HubProcess, timeout: float = 90) -> float:
    """Until the worker has its partitions, tables recovered and streams seeked.
    Records that arrive while a worker is still starting can be lost by Faust
    itself (see the module docstring), so the test produces after this."""

    def ready() -> bool:
        if worker.proc.poll() is not None:
            raise AssertionError(f"{worker.name} exited:\n{worker.log_tail()}")
        return "[^Worker]: Ready" in worker.log_path.read_text(errors="replace")

    wait_until(ready, timeout, f"{worker.name} ready", interval=0.1)
    return time.monotonic()


def produce(bootstrap: str, topic: str, reports: list[Report]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for r in reports:
        producer.send(topic, key=r.community_code.encode(), value=encode_report(r))
    producer.flush()
    producer.close()


class AlertFeed:
    """Every hotspot alert on the alerts topic, decoded, in arrival order."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.consumer = KafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            consumer_timeout_ms=1000,
            group_id=None,
        )
        self.alerts: list[tuple[bytes | None, Alert, str, str | None]] = []

    def poll(self) -> list[Alert]:
        for record in self.consumer:
            event = decode_kafka(record.value, record.headers)
            alert = Alert.model_validate(event.data)
            if alert.kind is AlertKind.HOTSPOT:
                self.alerts.append((record.key, alert, event.type, event.subject))
        return [alert for _, alert, _, _ in self.alerts]

    def wait_for(self, category: str, timeout: float = 120) -> float:
        wait_until(
            lambda: any(a.category == category for a in self.poll()),
            timeout,
            f"a {category} hotspot alert",
            interval=0.1,
        )
        arrived = time.monotonic()
        self.poll()  # anything else already written
        return arrived


def test_synthetic_burst_raises_exactly_one_hotspot_alert(
    hub_env, running, kafka_bootstrap, tmp_path
):
    env = hub_env(f"sqlite:///{tmp_path / 'unused.db'}")
    # As a deployment would: the tables' changelogs exist before the first worker.
    for name, (count, settings) in case_changelogs(env, tmp_path).items():
        create_topics(kafka_bootstrap, [name], count, 1, configs={name: settings})
    started = time.monotonic()
    worker = spawn_worker(env, running)
    ready = wait_ready(worker)

    minute = timedelta(minutes=1)
    reports = [report(NINE - timedelta(hours=20), "garbage")]  # a quiet grid's history
    reports += [report(NINE + i * minute, "garbage") for i in range(8)]  # the burst
    reports += [report(NINE + 9 * minute, "garbage", report_id=reports[-1].id)] * 3  # retries
    reports += [report(NINE + i * minute, "garbage", NEIGHBOUR) for i in range(4)]  # under 5
    # The sentinel: a burst of gas smells (3 raise a hotspot) in the same partition,
    # so once its alert is out every garbage report has been handled.
    reports += [report(NINE + (20 + i) * minute, "gas_smell") for i in range(3)]
    produce(kafka_bootstrap, env.topics.reports, reports)
    produced = time.monotonic()

    feed = AlertFeed(kafka_bootstrap, env.topics.alerts)
    try:
        arrived = feed.wait_for("gas_smell")
        garbage = [(key, a, t, s) for key, a, t, s in feed.alerts if a.category == "garbage"]
        assert len(garbage) == 1, feed.alerts
        key, alert, ce_type, subject = garbage[0]
        assert key == GRID.encode()
        assert subject == GRID
        assert ce_type == f"{ALERT_TYPE_PREFIX}hotspot"
        assert alert.id == f"hotspot:{GRID}:garbage:2026-11-26T09:00:00Z"
        assert alert.grid_code == GRID
        assert alert.detail["count"] == 5
        assert alert.time == NINE + 4 * minute
        assert {a.grid_code for a in feed.poll()} == {GRID}  # the neighbour stayed quiet
        assert len(feed.alerts) == 2

        # Kill the worker and start another: the tables come back from their
        # changelogs, so more garbage in the same window alerts no more, and
        # the neighbour's earlier four count towards its fifth.
        time.sleep(2)  # past a commit interval
        worker.stop(signal.SIGKILL)
        restarted = time.monotonic()
        ready_again = wait_ready(spawn_worker(env, running))
        more = [report(NINE + (30 + i) * minute, "garbage") for i in range(3)]
        more.append(report(NINE + 30 * minute, "garbage", NEIGHBOUR))
        more += [report(NINE + (40 + i) * minute, "flooding") for i in range(3)]  # sentinel
        produce(kafka_bootstrap, env.topics.reports, more)
        produced_again = time.monotonic()
        recovered = feed.wait_for("flooding")
    finally:
        feed.consumer.close()
    print(
        f"hotspot integration: worker start → ready {ready - started:.1f}s, "
        f"produce → alerts {arrived - produced:.1f}s; SIGKILL → new worker ready "
        f"{ready_again - restarted:.1f}s, produce → alerts {recovered - produced_again:.1f}s"
    )
    ids = [a.id for a in feed.poll()]
    assert sorted(ids) == sorted(
        [
            f"hotspot:{GRID}:garbage:2026-11-26T09:00:00Z",
            f"hotspot:{GRID}:gas_smell:2026-11-26T09:00:00Z",
            f"hotspot:{NEIGHBOUR}:garbage:2026-11-26T09:00:00Z",
            f"hotspot:{GRID}:flooding:2026-11-26T09:00:00Z",
        ]
    ), ids
