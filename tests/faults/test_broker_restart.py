"""Broker restart under load: the hub's own broker (not the session's) is
stopped and started again on the same ports and log dirs while phones post reports
to the gateway and another system produces to ``gridhub.intake`` directly. The
gateway and the worker reconnect by themselves; the phones retry a 503 with the
same report id, the producer retries by itself; nothing is lost, nothing doubled."""

from __future__ import annotations

import threading
import time

import httpx

from gridhub.local.kafka import LocalKafka
from gridhub.local.processes import free_ports
from sinks.db import upgrade
from sinks.tokens import TokenStore
from tests.faults import harness
from tests.faults.harness import Paced, Planned, Scenario

GROUPS = 240
RATE = 15.0  # events/s on each channel
RECOVERY_BOUND_S = 60.0
GATEWAY_BOUND_S = 45.0  # phones give up on a report this long after the broker is back
SECRET = "faults-broker-secret"


class Phone:
    """Posts reports to the gateway, retrying 503s and network errors with the same
    report id (what the phone page's outbox does); counts what happened."""

    def __init__(self, base: str, token: str, plan: harness.Plan) -> None:
        self.http = httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=20
        )
        self.plan = plan
        self.retries = 0
        self.refused: list[str] = []
        self.gave_up: list[str] = []
        self.retry_until = time.monotonic() + 600  # set once the broker is back
        self.lock = threading.Lock()

    def send(self, item: tuple[int, Planned]) -> None:
        n, planned = item
        body = self.plan.report_body(planned, n)
        while True:
            try:
                answer = self.http.post(
                    "/api/v1/reports", json=body, headers={"Idempotency-Key": planned.report_id}
                )
                if answer.status_code == 202:
                    assert answer.json()["report_id"] == planned.report_id
                    return
                if answer.status_code != 503:
                    self.refused.append(f"{answer.status_code} {answer.text[:200]}")
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > self.retry_until:
                self.gave_up.append(planned.report_id)  # counted as lost by the census
                return
            with self.lock:
                self.retries += 1
            time.sleep(0.5)


def test_broker_restart_under_load(postgres_url, tmp_path):
    with harness.recorded(Scenario("Kafka broker restart under load")) as scenario:
        port, controller_port = free_ports(2)
        broker = LocalKafka(data_dir=tmp_path / "kafka", port=port, controller_port=controller_port)
        broker.start(wait_seconds=90)
        bootstrap = broker.bootstrap
        hub = producer = phone = env = None
        engine = harness.engine_for(postgres_url)
        try:
            upgrade(postgres_url)
            token, _ = TokenStore(engine, SECRET).create("grid_worker", "faults-phone")
            env = harness.hub_env(
                tmp_path, bootstrap, postgres_url, extra={"GRIDHUB_TOKEN_SECRET": SECRET}
            )
            hub = harness.Hub(env, bootstrap)
            worker = hub.spawn_worker()
            gateway = hub.spawn_gateway()
            harness.wait_ready(worker, f"http://127.0.0.1:{harness.worker_port(worker)}/readyz", 90)
            harness.wait_ready(gateway, f"{hub.gateway_url}/readyz", 60)

            plan = harness.make_plan(harness.CATEGORIES[:4], GROUPS, seed=83)
            # Groups alternate between the channels; each group's reports stay on one.
            by_phone = [(n, p) for n, p in enumerate(plan.order) if p.group % 2 == 0]
            by_kafka = [
                r for r, p in zip(plan.kafka_records(), plan.order, strict=True) if p.group % 2
            ]
            phone = Phone(hub.gateway_url, token, plan)
            producer = harness.kafka_producer(
                bootstrap,
                retries=2**31 - 1,
                enable_idempotence=True,
                delivery_timeout_ms=180_000,
                request_timeout_ms=10_000,
                reconnect_backoff_max_ms=1000,
            )
            failures: list[BaseException] = []

            def produce(record: harness.Record) -> None:
                key, value, headers = record
                future = producer.send(env.topics.intake, key=key, value=value, headers=headers)
                future.add_errback(failures.append)

            phones = Paced(by_phone, phone.send, RATE).start()
            system = Paced(by_kafka, produce, RATE).start()
            phones.wait_sent(len(by_phone) // 3, 60)

            stop_at = time.monotonic()
            scenario.notes["stopped_utc"] = harness.utc_clock()
            broker.stop()
            scenario.notes["broker_stop_s"] = round(time.monotonic() - stop_at, 1)
            # Down from here until the restarted broker answers (its JVM start-up and
            # KRaft registration take tens of seconds on this box: outage enough).
            broker.start(wait_seconds=90)
            back_at = time.monotonic()
            scenario.notes["down_s"] = round(back_at - stop_at, 1)
            scenario.notes["restarted_utc"] = harness.utc_clock()
            # The gateway must take reports again soon after the broker is back.
            phone.retry_until = back_at + GATEWAY_BOUND_S

            phones.join(180)
            system.join(60)
            producer.flush(timeout=120)
            assert not failures, failures[:3]
            assert not phone.refused, phone.refused[:3]
            scenario.events_sent = phones.sent + system.sent
            scenario.notes["phone_retries"] = phone.retries
            if phone.gave_up:
                scenario.notes["phone_gave_up"] = len(phone.gave_up)
                tail = [line for line in gateway.log_tail(400).splitlines() if "WARNING" in line]
                print("gateway warnings:", *tail[-5:], sep="\n")

            census, done = harness.settle(engine, harness.expected_of(plan), RECOVERY_BOUND_S + 10)
            harness.fill(scenario, census)
            scenario.recover_s = None if done is None else done - back_at
            scenario.bound_s = RECOVERY_BOUND_S
            if census.duplicates or census.lost:
                print(harness.explain(engine, plan, census))
                suspects = census.lost_ids + [
                    rid for group in census.split_groups for rid in plan.groups[group]
                ]
                print(harness.trace_ids(bootstrap, env.topics, env.env["GRIDHUB_APP_ID"], suspects))
            for proc in hub.procs:
                assert proc.proc.poll() is None, f"{proc.name} died:\n{proc.log_tail()}"
        finally:
            if phone is not None:
                phone.http.close()
            if producer is not None:
                producer.close(timeout=10)
            if hub is not None:
                hub.stop_all()
            engine.dispose()
            broker.stop()
    scenario.check()
