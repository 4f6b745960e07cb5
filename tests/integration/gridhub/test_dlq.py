"""``gridhub dlq list|redrive`` against a real broker and a real worker: a report
intake refused is listed with its reason, sent back fixed, becomes a case; sent
back again, it is still one report."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime

import pytest
from kafka import KafkaProducer

from gridhub.dlq import read
from schemas.envelope import REPORT_SUBMITTED, Envelope, encode_structured
from sinks.db import make_engine, upgrade
from sinks.queries import CaseQueries
from streams.logic.intake import derived_report_id
from tests.fixtures.worker import wait_until

pytestmark = [pytest.mark.kafka]

SOURCE = "urn:test:dlq"
KEY = b"dlq-test"
WAIT = 60.0


def _event(category: str, grid: str = "990101001001001", event_id: str | None = None):
    return Envelope(
        id=event_id or str(uuid.uuid4()),
        source=SOURCE,
        type=REPORT_SUBMITTED,
        time=datetime.now(UTC),
        datacontenttype="application/json",
        data={"category": category, "description": "垃圾满溢", "grid_code": grid},
    )


def _gridhub(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "gridhub", "dlq", *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def test_list_then_redrive_fixed_once_and_idempotently(hub_env, running, tmp_path):
    env = hub_env(f"sqlite:///{tmp_path / 'dlq.db'}")
    upgrade(env.db_url)
    running.append(env.spawn("worker"))
    producer = KafkaProducer(bootstrap_servers=env.env["GRIDHUB_KAFKA_BOOTSTRAP"], acks="all")
    queries = CaseQueries(make_engine(env.db_url))
    bootstrap = env.env["GRIDHUB_KAFKA_BOOTSTRAP"]

    def send(event: Envelope) -> None:
        value, headers = encode_structured(event)
        producer.send(env.topics.intake, key=KEY, value=value, headers=headers).get(timeout=10)

    bad = _event("ufo")
    send(bad)
    (letter,) = wait_until(
        lambda: list(read(bootstrap, env.topics.intake_dlq)),
        WAIT,
        "the refused report's dead letter",
    )
    assert "unknown category 'ufo'" in letter.reason

    listed = [json.loads(line) for line in _gridhub(env.env, "list", "--json").splitlines()]
    assert [(r["partition"], r["offset"]) for r in listed] == [(letter.partition, letter.offset)]
    assert "unknown category" in listed[0]["reason"]
    assert listed[0]["original"].startswith(f"{env.topics.intake}/")

    fixed = _event("garbage", event_id=bad.id).model_copy()
    value, _ = encode_structured(fixed)
    fix = tmp_path / "fixed.json"
    fix.write_bytes(value)
    position = f"{letter.partition}/{letter.offset}"
    out = _gridhub(env.env, "redrive", "--record", position, "--fix", str(fix))
    assert f"redriven {env.topics.intake_dlq}/{position}" in out

    report_id = derived_report_id(bad)
    case = wait_until(lambda: queries.get_report(report_id, False), WAIT, "the fixed report")
    assert case["category"] == "garbage"

    # Again, then a marker behind it on the same partition: once the marker is in,
    # the second copy has been through intake too, and made nothing new.
    _gridhub(env.env, "redrive", "--record", position, "--fix", str(fix))
    marker = _event("garbage", grid="990101003002004")
    send(marker)
    wait_until(lambda: queries.get_report(derived_report_id(marker), False), WAIT, "the marker")
    items, total = queries.list_cases(limit=10)
    assert total == 2
    assert len(list(read(bootstrap, env.topics.intake_dlq))) == 1  # nothing failed again
    producer.close()
