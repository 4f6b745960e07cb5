"""Database outage: PostgreSQL stopped for 60 s under load. The case agent, which
writes the projection in the batch that decides it, backs off and retries
without committing offsets past what it wrote, the gateway's
reads answer 503 with a clear message at once instead of hanging, and everything
catches up once PostgreSQL is back (on its own server here: the session's shared
server must not stop)."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import httpx

from gateway.errors import DATABASE_UNAVAILABLE
from gridhub.local.postgres import LocalPostgres
from gridhub.local.processes import free_port
from sinks.db import upgrade
from sinks.tokens import TokenStore
from tests.faults import harness
from tests.faults.harness import Paced, Scenario

OUTAGE_S = 60.0
GROUPS = 200
RATE = 10.0  # events/s: the load runs through most of the outage
READ_BOUND_S = 3.0  # a read during the outage answers within this
RECOVERY_BOUND_S = 60.0
SECRET = "faults-db-outage-secret"


def test_postgres_stopped_for_a_minute_under_load(kafka_bootstrap, tmp_path):
    with harness.recorded(Scenario("PostgreSQL down 60 s under load")) as scenario:
        base = Path(tempfile.mkdtemp(prefix="gridhub-faults-pg-"))  # runs as postgres when root
        server = LocalPostgres(base, free_port())
        server.start()
        hub = engine = env = producer = None
        try:
            db_url = server.create_database("gridhub")
            upgrade(db_url)
            engine = harness.engine_for(db_url)
            operator, _ = TokenStore(engine, SECRET).create("operator", "faults-operator")
            env = harness.hub_env(
                tmp_path, kafka_bootstrap, db_url, extra={"GRIDHUB_TOKEN_SECRET": SECRET}
            )
            hub = harness.Hub(env, kafka_bootstrap)
            worker = hub.spawn_worker()
            gateway = hub.spawn_gateway()
            harness.wait_ready(worker, f"http://127.0.0.1:{harness.worker_port(worker)}/readyz", 90)
            harness.wait_ready(gateway, f"{hub.gateway_url}/readyz", 60)
            http = httpx.Client(
                base_url=hub.gateway_url,
                headers={"Authorization": f"Bearer {operator}"},
                timeout=30,
            )
            assert http.get("/api/v1/cases").status_code == 200

            plan = harness.make_plan(harness.CATEGORIES[:3], GROUPS, seed=71)
            records = plan.kafka_records()
            producer = harness.kafka_producer(kafka_bootstrap)

            def send(record: harness.Record) -> None:
                key, value, headers = record
                producer.send(env.topics.intake, key=key, value=value, headers=headers)

            load = Paced(records, send, RATE).start()
            load.wait_sent(50, 30)

            server.stop()
            down_at = time.monotonic()
            scenario.notes["stopped_utc"] = harness.utc_clock()
            scenario.notes["sent_before"] = load.sent

            # Reads: 503 with the message, quickly, for the whole outage.
            slowest = 0.0
            probes = 0
            frozen: dict[int, int] | None = None
            produced: dict[int, int] = {}
            group = env.env["GRIDHUB_APP_ID"]
            while time.monotonic() - down_at < OUTAGE_S:
                started = time.monotonic()
                answer = http.get("/api/v1/cases")
                slowest = max(slowest, time.monotonic() - started)
                probes += 1
                assert answer.status_code == 503, answer.text
                assert answer.json()["detail"] == DATABASE_UNAVAILABLE
                assert answer.headers.get("Retry-After")
                if frozen is None and time.monotonic() - down_at > 5:
                    # Past the commit interval: what was written before the outage is committed.
                    frozen = harness.committed_offsets(kafka_bootstrap, group, env.topics.reports)
                    produced = harness.end_offsets(kafka_bootstrap, env.topics.reports)
                time.sleep(1.0)
            # The case agent held its batch: nothing past what it wrote is committed on
            # its input, while intake went on producing reports it could not write.
            committed = harness.committed_offsets(kafka_bootstrap, group, env.topics.reports)
            produced_late = harness.end_offsets(kafka_bootstrap, env.topics.reports)
            scenario.notes["sent_during"] = load.sent - scenario.notes["sent_before"]
            scenario.notes["read_probes"] = probes
            scenario.notes["slowest_503_s"] = round(slowest, 2)
            scenario.notes["unwritten_reports"] = sum(produced_late.values()) - sum(
                committed.values()
            )
            assert slowest < READ_BOUND_S, f"a read took {slowest:.1f}s during the outage"
            assert frozen is not None and committed == frozen, (frozen, committed)
            assert sum(produced_late.values()) > sum(produced.values()), "no load in the outage"

            server.start()
            back_at = time.monotonic()
            scenario.notes["restarted_utc"] = harness.utc_clock()
            load.join(120)
            producer.flush()
            scenario.events_sent = load.sent

            census, done = harness.settle(engine, harness.expected_of(plan), RECOVERY_BOUND_S + 10)
            harness.fill(scenario, census)
            scenario.recover_s = None if done is None else done - back_at
            scenario.bound_s = RECOVERY_BOUND_S
            if census.duplicates or census.lost:
                print(harness.explain(engine, plan, census))
            assert http.get("/api/v1/cases").status_code == 200
            retries = worker.log_path.read_text(errors="replace").count("DB write of ")
            scenario.notes["write_retries"] = retries
            # Backed off (0.1 s doubling to 5 s): a handful of attempts a minute, not a spin.
            assert 3 <= retries <= 40, retries
            http.close()
        finally:
            if producer is not None:
                producer.close()
            if hub is not None:
                hub.stop_all()
            if engine is not None:
                engine.dispose()
            try:
                server.stop()
            finally:
                shutil.rmtree(base, ignore_errors=True)
            if env is not None:
                harness.drop_topics(kafka_bootstrap, env.topics)
    scenario.check()
