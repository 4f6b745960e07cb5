"""A worker killed with SIGKILL while thousands of events are in flight, then
restarted, ends with exactly the cases, attachments and timeline rows of an
undisturbed run: nothing lost, nothing doubled (DESIGN.md §7)."""

from __future__ import annotations

import random
import signal
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kafka import KafkaProducer
from sqlalchemy import MetaData, func, select

from routing.district import District
from schemas.envelope import REPORT_SUBMITTED, Envelope, encode_structured
from sinks.db import make_engine, upgrade
from tests.fixtures.worker import HubEnv, wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

EVENTS = 4000
CATEGORIES = ["garbage", "street_light", "road_damage", "illegal_parking", "noise"]


def synthetic_reports(seed: int = 7) -> list[tuple[bytes, bytes, list[tuple[str, bytes]]]]:
    """Reports across every demo grid, a third of them near-duplicates of an
    earlier one, keyed by community so each community's reports stay in order."""
    rng = random.Random(seed)
    grids = list(District.load().grids)
    start = datetime.now(UTC).replace(microsecond=0)
    spots: list[tuple[str, float, float, str]] = []
    records = []
    for n in range(EVENTS):
        if spots and rng.random() < 0.33:
            category, lat, lon, community = rng.choice(spots)
            lat += rng.uniform(-0.0003, 0.0003)
        else:
            grid = rng.choice(grids)
            point = grid.polygon.representative_point()
            lat = point.y + rng.uniform(-0.001, 0.001)
            lon = point.x + rng.uniform(-0.001, 0.001)
            category, community = rng.choice(CATEGORIES), grid.community_code
            spots.append((category, lat, lon, community))
        report_id = str(uuid.UUID(int=rng.getrandbits(128)))
        envelope = Envelope(
            id=report_id,
            source="urn:test:crash",
            type=REPORT_SUBMITTED,
            time=start + timedelta(seconds=n),
            datacontenttype="application/json",
            data={
                "category": category,
                "description": f"合成上报 {n}",
                "location": {"lat": lat, "lon": lon},
                "report_id": report_id,
            },
        )
        value, headers = encode_structured(envelope)
        records.append((community.encode(), value, headers))
    return records


def count(url: str, table: str) -> int:
    engine = make_engine(url)
    try:
        meta = MetaData()
        meta.reflect(engine, only=[table])
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(meta.tables[table])).scalar())
    finally:
        engine.dispose()


def rows(url: str, table: str) -> list[tuple[Any, ...]]:
    engine = make_engine(url)
    try:
        meta = MetaData()
        meta.reflect(engine, only=[table])
        tab = meta.tables[table]
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(select(tab).order_by(*tab.primary_key.columns))]
    finally:
        engine.dispose()


def report_ids(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        meta = MetaData()
        meta.reflect(engine, only=["reports"])
        with engine.connect() as conn:
            return {str(r[0]) for r in conn.execute(select(meta.tables["reports"].c.id))}
    finally:
        engine.dispose()


def where_are(env: HubEnv, bootstrap: str, missing: set[str]) -> str:
    """Where the missing reports stopped: every record on the loop's topics that
    names one, and the worker group's committed offsets against the ends."""
    from kafka import KafkaConsumer, TopicPartition

    lines = []
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    # Only asked for the group's committed offsets: never subscribes or polls.
    group = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=env.env.get("GRIDHUB_APP_ID", "gridhub"),
        enable_auto_commit=False,
    )
    try:
        for topic in (env.topics.intake, env.topics.reports, env.topics.case_events):
            tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
            ends = consumer.end_offsets(tps)
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            seen = 0
            while seen < sum(ends.values()):
                polled = consumer.poll(timeout_ms=2000)
                if not polled:
                    break
                for records in polled.values():
                    for record in records:
                        seen += 1
                        text = (record.value or b"").decode(errors="replace")
                        for rid in missing:
                            if rid in text:
                                lines.append(
                                    f"  {rid[:8]} in {topic}[{record.partition}]@{record.offset}"
                                )
            for tp in tps:
                lines.append(
                    f"  {topic}[{tp.partition}]: end {ends[tp]}, committed {group.committed(tp)}"
                )
    finally:
        consumer.close()
        group.close()
    return "\n".join(lines)


def settled(url: str) -> None:
    """Every report is in, and the timeline has stopped growing."""
    wait_until(lambda: count(url, "reports") == EVENTS, 180, f"{EVENTS} reports")
    last = -1
    while (now := count(url, "case_events")) != last:
        last = now
        time.sleep(2)


def value_id(value: bytes) -> str:
    import json

    return str(json.loads(value)["id"])


def produce(bootstrap: str, topic: str, records) -> None:
    """The same records for both runs, timestamps included: the hub's time of a
    report is its record's (routing.provenance), so the runs must get equal ones
    (a millisecond apart, from the first event's time: the broker refuses
    timestamps more than an hour ahead)."""
    import json

    first = datetime.fromisoformat(json.loads(records[0][1])["time"].replace("Z", "+00:00"))
    base = int(first.timestamp() * 1000)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20)
    for n, (key, value, headers) in enumerate(records):
        producer.send(topic, key=key, value=value, headers=headers, timestamp_ms=base + n)
    producer.flush()
    producer.close()


def run(env: HubEnv, bootstrap: str, records, kill_at: int | None) -> dict[str, float]:
    upgrade(env.db_url)
    produce(bootstrap, env.topics.intake, records)
    worker = env.spawn("worker")
    figures: dict[str, float] = {}
    try:
        if kill_at is not None:
            wait_until(lambda: count(env.db_url, "reports") >= kill_at, 120, "the first reports")
            figures["killed_at"] = count(env.db_url, "reports")
            worker.stop(signal.SIGKILL)
            killed = time.monotonic()
            worker = env.spawn("worker")
            wait_until(lambda: count(env.db_url, "reports") > figures["killed_at"], 120, "resume")
            figures["recovery_s"] = time.monotonic() - killed
        try:
            settled(env.db_url)
        except AssertionError:
            expected = {value_id(value) for _, value, _ in records}
            missing = expected - report_ids(env.db_url)
            print(f"--- {len(missing)} reports missing ---\n{where_are(env, bootstrap, missing)}")
            raise
    finally:
        print(f"--- worker ---\n{worker.log_tail(40)}")
        worker.stop()
    return figures


def test_sigkill_mid_stream_ends_like_an_undisturbed_run(
    hub_env, kafka_bootstrap, postgres_server_url, tmp_path
):
    from gridhub.local.postgres import create_database_at
    from gridhub.topics import create_topics
    from schemas.topics import TopicNames

    records = synthetic_reports()
    clean_env = hub_env(create_database_at(postgres_server_url, f"clean_{uuid.uuid4().hex[:8]}"))
    run(clean_env, kafka_bootstrap, records, kill_at=None)

    # The crashed run on its own topics, consumer group and database.
    prefix = f"crash{uuid.uuid4().hex[:6]}."
    create_topics(kafka_bootstrap, TopicNames.with_prefix(prefix).all(), 4, 1)
    crash_env = hub_env(create_database_at(postgres_server_url, f"crash_{uuid.uuid4().hex[:8]}"))
    crash_env.env.update(GRIDHUB_TOPIC_PREFIX=prefix, GRIDHUB_APP_ID=f"gridhub-{prefix[:-1]}")
    crash_env.topics = TopicNames.with_prefix(prefix)
    figures = run(crash_env, kafka_bootstrap, records, kill_at=EVENTS // 5)

    assert figures["killed_at"] < EVENTS, "the kill came too late to test anything"
    for table in ("reports", "cases", "case_events"):
        clean, crashed = rows(clean_env.db_url, table), rows(crash_env.db_url, table)
        print(f"{table}: clean {len(clean)}, after SIGKILL {len(crashed)}")
        assert crashed == clean, table
    print(
        f"killed at {figures['killed_at']:.0f}/{EVENTS} reports, "
        f"recovered in {figures['recovery_s']:.1f}s"
    )
