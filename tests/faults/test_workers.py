"""Several workers: three ``gridhub worker`` processes with one app id share
the partitions; under load one is stopped (SIGTERM) and another killed (SIGKILL);
the survivor takes their partitions over and every report still ends in exactly
the case it makes in an undisturbed run (known by construction, see harness)."""

from __future__ import annotations

import signal
import time

from sinks.db import upgrade
from tests.faults import harness
from tests.faults.harness import Paced, Scenario

GROUPS = 300  # cases, 1–3 reports each
RATE = 40.0  # events/s
RECOVERY_BOUND_S = 60.0


def test_three_workers_survive_a_sigterm_and_a_sigkill_under_load(
    kafka_bootstrap, postgres_url, tmp_path
):
    with harness.recorded(Scenario("3 workers: SIGTERM one, SIGKILL one")) as scenario:
        plan = harness.make_plan(harness.CATEGORIES[:4], GROUPS, seed=61)
        records = plan.kafka_records()
        upgrade(postgres_url)
        env = harness.hub_env(tmp_path, kafka_bootstrap, postgres_url)
        hub = harness.Hub(env, kafka_bootstrap)
        engine = harness.engine_for(postgres_url)
        producer = harness.kafka_producer(kafka_bootstrap)
        try:
            workers = [hub.spawn_worker(f"w{n}") for n in range(3)]
            for worker in workers:
                port = harness.worker_port(worker)
                harness.wait_ready(worker, f"http://127.0.0.1:{port}/readyz", 90)

            def send(record: harness.Record) -> None:
                key, value, headers = record
                producer.send(env.topics.intake, key=key, value=value, headers=headers)

            load = Paced(records, send, RATE).start()
            load.wait_sent(len(records) // 3, 60)
            term_at = time.monotonic()
            scenario.notes["sigterm_utc"] = harness.utc_clock()
            scenario.notes["sigterm_exit"] = workers[0].stop(signal.SIGTERM, timeout=30)
            scenario.notes["sigterm_stop_s"] = round(time.monotonic() - term_at, 1)
            load.wait_sent(2 * len(records) // 3, 60)
            scenario.notes["sigkill_at"] = load.sent
            killed_at = time.monotonic()
            scenario.notes["sigkill_utc"] = harness.utc_clock()
            workers[1].stop(signal.SIGKILL)
            load.join(60)
            producer.flush()
            scenario.events_sent = load.sent

            census, done = harness.settle(engine, harness.expected_of(plan), RECOVERY_BOUND_S + 10)
            harness.fill(scenario, census)
            scenario.recover_s = None if done is None else done - killed_at
            scenario.bound_s = RECOVERY_BOUND_S
            if census.duplicates or census.lost:
                print(harness.explain(engine, plan, census))
                suspects = census.lost_ids + [
                    rid for group in census.split_groups for rid in plan.groups[group]
                ]
                group_id = env.env["GRIDHUB_APP_ID"]
                print(harness.trace_ids(kafka_bootstrap, env.topics, group_id, suspects))
            assert workers[2].proc.poll() is None, "the surviving worker died"
            assert scenario.notes["sigterm_exit"] == 0, "SIGTERM did not stop the worker cleanly"
        finally:
            producer.close()
            hub.stop_all()
            engine.dispose()
            harness.drop_topics(kafka_bootstrap, env.topics)
    scenario.check()
