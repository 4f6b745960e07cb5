"""``gridhub worker --processes 2`` on the real broker: two processes share the
partitions, a child killed with SIGKILL is started again while the other takes
its partitions, every report ends in exactly one case history, and a SIGTERM to
the parent stops them all."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import pytest
from kafka import KafkaProducer
from sqlalchemy import func, select, text

from gridhub.local.processes import free_port_block, pid_alive, wait_gone
from routing.district import District
from schemas.envelope import encode_structured
from sinks.db import make_engine, upgrade
from sinks.models import reports
from tests.fixtures.worker import wait_until
from tests.support.envelopes import report_envelope

pytestmark = [pytest.mark.e2e, pytest.mark.kafka]


def children(pid: int) -> list[int]:
    found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in found]


def ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def produce(bootstrap: str, topic: str, count: int, tag: str) -> None:
    """``count`` reports spread over every demo grid (so over every partition)."""
    grids = list(District.load().grids)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    for n in range(count):
        grid = grids[n % len(grids)]
        point = grid.polygon.representative_point()
        envelope = report_envelope(
            category="garbage",
            description=f"{tag} {n}",
            grid_code=None,
            location={"lat": point.y, "lon": point.x + (n // len(grids)) * 0.00002},
        )
        value, headers = encode_structured(envelope)
        producer.send(topic, key=grid.community_code.encode(), value=value, headers=headers)
    producer.flush()
    producer.close()


def test_two_worker_processes_share_the_partitions(hub_env, running, kafka_bootstrap, tmp_path):
    db_url = f"sqlite:///{tmp_path / 'hub.db'}"
    env = hub_env(db_url)
    upgrade(db_url)
    # Process i serves on port + i: both blocks free, or a child fails to bind.
    web = free_port_block(2)
    port = free_port_block(2, avoid=[web, web + 1])
    parent = env.spawn(
        "worker",
        GRIDHUB_WORKER_PROCESSES="2",
        GRIDHUB_WORKER_WEB_PORT=str(web),
        GRIDHUB_WORKER_METRICS_PORT=str(port),
    )
    running.append(parent)
    wait_until(lambda: ready(port) and ready(port + 1), 120, "both processes with partitions")
    first, second = children(parent.pid)

    engine = make_engine(db_url)

    def count() -> int:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(reports)).scalar_one())

    try:
        produce(kafka_bootstrap, env.topics.intake, 120, "before")
        wait_until(lambda: count() == 120, 120, "the first reports in cases")

        os.kill(second, signal.SIGKILL)
        wait_until(
            lambda: second not in children(parent.pid) and len(children(parent.pid)) == 2,
            60,
            "the killed worker started again",
        )
        assert first in children(parent.pid)
        produce(kafka_bootstrap, env.topics.intake, 120, "after")
        wait_until(lambda: count() == 240, 180, "every report, across the kill")

        with engine.connect() as conn:
            # One writer per case: each case opened once, its versions 1..n without a gap.
            histories = conn.execute(
                text(
                    "SELECT case_id, count(*), max(version), "
                    "sum(CASE WHEN type = 'opened' THEN 1 ELSE 0 END) FROM case_events "
                    "GROUP BY case_id"
                )
            ).all()
        assert histories
        for case_id, events, last, opened in histories:
            assert (events, opened) == (last, 1), case_id
    finally:
        engine.dispose()

    everyone = [parent.pid, *children(parent.pid)]
    parent.stop(signal.SIGTERM)
    for pid in everyone:
        assert wait_gone(pid, 30) or not pid_alive(pid), f"process {pid} outlived the parent"
