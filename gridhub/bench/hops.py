"""The same-hops baseline of DESIGN.md §9 (``hops_baseline_eps``): a hand-written
aiokafka program with the worker's hops and database writes and no domain logic,
so the full loop's rate can be read against what transport and database alone allow.

Three stages, each its own consumer group, in every process of the baseline:

1. **repartition** ``intake`` → ``reports``: decode the CloudEvent (orjson), key it
   by a community-sized cell of its point (placing it on a grid is domain logic),
   encode the report;
2. **decide** ``reports`` → ``case-events``: decode, one case per report (deciding
   is domain logic), encode a case event carrying the case and the report, keyed
   by case id;
3. **project** ``case-events`` → the database: decode, and write the same three
   tables as the worker (``case_events``, ``cases``, ``reports``) per batch in one
   transaction, through the worker's own statements
   (:meth:`sinks.writer.CaseProjectionWriter.write_rows`).

Every stage fetches with ``getmany`` (big batches), sends its batch and awaits the
acks together, and commits its offsets only after its outputs are acknowledged
(or the database transaction is committed): the worker's delivery rule.

Run by the bench as ``python -m gridhub.bench.hops`` in as many processes as the
worker gets; they share the partitions through the groups.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from sinks.db import make_engine
from sinks.writer import CaseProjectionWriter, Row

log = logging.getLogger(__name__)

STAGES = ("repartition", "decide", "project")
FETCH_RECORDS = 5000


def group_ids(group: str) -> list[str]:
    """The consumer group of each stage."""
    return [f"{group}-{stage}" for stage in STAGES]


def community_key(data: dict[str, Any]) -> bytes:
    """A community-sized key (a ~1 km cell of the point), standing in for placement."""
    location = data.get("location") or {}
    return f"{location.get('lat', 0):.2f},{location.get('lon', 0):.2f}".encode()


def report_of(event: dict[str, Any]) -> dict[str, Any]:
    """The report fields the worker's report carries, copied from the CloudEvent."""
    data = event.get("data") or {}
    location = data.get("location") or {}
    return {
        "id": data.get("report_id") or event["id"],
        "source": event["source"],
        "source_event_id": event["id"],
        "source_type": event["type"],
        "category": data.get("category", ""),
        "description": data.get("description", ""),
        "lat": location.get("lat"),
        "lon": location.get("lon"),
        "grid_code": "000000000000000",
        "occurred_at": data.get("occurred_at") or event.get("time"),
        "received_at": event.get("time"),
        "media": data.get("media") or [],
        "reporter": data.get("reporter"),
        "submitted_by": event.get("submittedby"),
        "attributes": {},
    }


def case_event_of(report: dict[str, Any]) -> dict[str, Any]:
    """A case event with a case's fields and the report, one case per report."""
    case = {
        "id": f"case-{report['id']}",
        "state": "open",
        "category": report["category"],
        "priority": "P3",
        "grid_code": report["grid_code"],
        "street_code": report["grid_code"][:9],
        "community_code": report["grid_code"][:12],
        "lead_department": None,
        "departments": [],
        "report_count": 1,
        "respond_by": None,
        "resolve_by": None,
        "sla_state": "on_track",
        "rework_count": 0,
        "escalation_level": 0,
        "merged_into": None,
        "version": 1,
        "title": report["description"][:60],
        "source": report["source"],
        "external_ref": None,
        "opened_at": report["received_at"],
        "updated_at": report["received_at"],
        "closed_at": None,
        "dispatched_at": None,
        "due_by": None,
        "deferrals": 0,
    }
    return {
        "event_id": f"{case['id']}:1",
        "type": "opened",
        "time": report["received_at"],
        "actor": "system",
        "case": case,
        "report": report,
    }


def rows_of(events: list[dict[str, Any]]) -> tuple[list[Row], list[Row], list[Row]]:
    """The three tables' rows of a batch of case events, one per key and in key order
    as the worker writes them (a record read twice after a rebalance is one row)."""
    timeline: dict[tuple[str, int], Row] = {}
    cases: dict[str, Row] = {}
    reports: dict[str, Row] = {}
    for event in events:
        case, report = event["case"], event["report"]
        timeline[(case["id"], case["version"])] = {
            "case_id": case["id"],
            "version": case["version"],
            "event_id": event["event_id"],
            "type": event["type"],
            "time": event["time"],
            "actor": event["actor"],
            "data": {},
        }
        cases[case["id"]] = {**case, "snapshot": case}
        reports[report["id"]] = {**report, "case_id": case["id"], "external_ref": None}
    return (
        [timeline[k] for k in sorted(timeline)],
        [cases[k] for k in sorted(cases)],
        [reports[k] for k in sorted(reports)],
    )


Handler = Callable[[list[Any]], Awaitable[None]]


async def _stage(
    bootstrap: str, topic: str, group: str, handle: Handler, stop: asyncio.Event
) -> None:
    from aiokafka import AIOKafkaConsumer
    from aiokafka.errors import (
        CommitFailedError,
        IllegalGenerationError,
        RebalanceInProgressError,
    )

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        client_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=20,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    await consumer.start()
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=100, max_records=FETCH_RECORDS)
            records = [record for part in batches.values() for record in part]
            if records:
                await handle(records)
                try:
                    await consumer.commit()  # after the outputs are durable
                except (CommitFailedError, IllegalGenerationError, RebalanceInProgressError):
                    # Another process joined and took some partitions: it re-reads the
                    # uncommitted records, whose writes are idempotent (at least once).
                    log.info("%s: commit refused by a rebalance; records re-read", group)
    finally:
        await consumer.stop()


async def run(bootstrap: str, prefix: str, group: str, database_url: str) -> None:
    """The three stages until SIGTERM/SIGINT."""
    from aiokafka import AIOKafkaProducer

    intake, reports, events = (f"{prefix}gridhub.{t}" for t in ("intake", "reports", "case-events"))
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=f"{group}-producer",
        acks="all",
        linger_ms=5,
        max_batch_size=256 * 1024,
        max_request_size=4 * 1024 * 1024,
    )
    writer = CaseProjectionWriter(make_engine(database_url))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    async def send_all(topic: str, out: list[tuple[bytes, bytes]]) -> None:
        futures = [await producer.send(topic, value=value, key=key) for key, value in out]
        await asyncio.gather(*futures)

    async def repartition(records: list[Any]) -> None:
        out = []
        for record in records:
            event = orjson.loads(record.value)
            out.append((community_key(event.get("data") or {}), orjson.dumps(report_of(event))))
        await send_all(reports, out)

    async def decide(records: list[Any]) -> None:
        out = []
        for record in records:
            event = case_event_of(orjson.loads(record.value))
            out.append((event["case"]["id"].encode(), orjson.dumps(event)))
        await send_all(events, out)

    async def project(records: list[Any]) -> None:
        rows = rows_of([orjson.loads(record.value) for record in records])
        await asyncio.to_thread(writer.write_rows, *rows)

    await producer.start()
    try:
        stages = [
            _stage(bootstrap, topic, name, handle, stop)
            for topic, name, handle in zip(
                (intake, reports, events),
                group_ids(group),
                (repartition, decide, project),
                strict=True,
            )
        ]
        await asyncio.gather(*stages)
    finally:
        await producer.stop()
        writer.engine.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gridhub.bench.hops", description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--prefix", required=True, help="topic prefix of the run")
    parser.add_argument("--group", required=True, help="consumer group stem")
    parser.add_argument("--database-url", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    print("hops baseline ready", flush=True)
    asyncio.run(run(args.bootstrap, args.prefix, args.group, args.database_url))


if __name__ == "__main__":
    main()
