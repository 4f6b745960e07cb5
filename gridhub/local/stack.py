"""``gridhub up``: the whole hub on one machine, started in order and stopped on Ctrl-C.

Broker (unless ``GRIDHUB_KAFKA_BOOTSTRAP`` names a cluster) → migrations →
topics → demo tokens → worker and gateway as child processes, each in its own
session with its log in ``<GRIDHUB_HOME>/logs``: Ctrl-C reaches only ``gridhub up``,
which then stops them with one SIGTERM each, and the broker last.

The machine's cores are shared out by :class:`ProcessPlan`: half to gateway server
processes, the rest to worker processes (no more than there are partitions to
share), so a report storm can use every core.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gridhub import bootstrap
from gridhub.local.kafka import LocalKafka
from gridhub.local.processes import HubProcess, spawn, stop_all, wait_for_signal
from gridhub.settings import Settings

DEMO_ROLES = {
    "operator": ("demo-operator", None),
    # Scoped to the demo district (990101): dev allows none, but say what is meant.
    "grid_worker": ("demo-grid-worker", "990101"),
    "department": ("demo-department-shizheng", "shizheng"),
    "leader": ("demo-leader", None),
}


@dataclass(frozen=True)
class ProcessPlan:
    """How many worker and gateway processes the hub runs on this machine."""

    workers: int
    gateways: int

    @classmethod
    def for_machine(cls, settings: Settings, cores: int | None = None) -> ProcessPlan:
        """Half the cores (at least one) to the gateway, unless
        ``GRIDHUB_GATEWAY_PROCESSES`` says; the rest (at least one, at most one per
        partition) to the workers."""
        cores = max(1, cores or os.cpu_count() or 1)
        if "gateway_processes" in settings.model_fields_set:
            gateways = settings.gateway_processes or cores
        else:
            gateways = max(1, cores // 2)
        workers = max(1, min(settings.topic_partitions, cores - gateways))
        return cls(workers=workers, gateways=gateways)

    def commands(self) -> dict[str, list[str]]:
        """The ``gridhub`` command line of each of the hub's processes, by name."""
        return {
            "worker": ["worker"],
            "gateway": ["gateway", "--processes", str(self.gateways)],
        }


def demo_tokens(settings: Settings) -> dict[str, str]:
    """One token per demo role, kept in ``GRIDHUB_HOME`` and reused while valid."""
    path = settings.home / "demo-tokens.json"
    store = bootstrap.token_store(settings)
    saved: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    tokens: dict[str, str] = {}
    for role, (name, scope) in DEMO_ROLES.items():
        known = saved.get(role)
        if known and store.verify(known) is not None:
            tokens[role] = known
        else:
            tokens[role], _ = store.create(role, name, scope)
    path.write_text(json.dumps(tokens, indent=2))
    path.chmod(0o600)
    return tokens


def wait_http_ready(url: str, timeout: float, alive: Callable[[], bool]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"a process exited before {url} answered; see .gridhub/logs")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - our own URL
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not become ready within {timeout:.0f}s")


def run_stack(settings: Settings) -> int:
    settings.home.mkdir(parents=True, exist_ok=True)
    broker: LocalKafka | None = None
    children: list[HubProcess] = []
    try:
        if not settings.kafka_bootstrap:
            broker = LocalKafka.from_settings(settings)
            print("Fetching the Kafka broker jars if missing (first run takes a minute)...")
            broker.ensure_jars()
            broker.start()
        print(f"Kafka at {settings.bootstrap}")
        bootstrap.migrate(settings)
        print(f"Database at {settings.db_url}")
        bootstrap.create_hub_topics(settings)
        tokens = demo_tokens(settings)
        logs = settings.home / "logs"
        plan = ProcessPlan.for_machine(settings)
        children = [
            spawn(verb, os.environ, logs, args=command[1:], log_name=f"{verb}.log")
            for verb, command in plan.commands().items()
        ]
        print("Started:", "; ".join(f"gridhub {' '.join(c)}" for c in plan.commands().values()))

        def alive() -> bool:
            return all(child.alive() for child in children)

        base = f"http://{settings.gateway_host}:{settings.gateway_port}"
        wait_http_ready(f"{base}/readyz", 90, alive)
        # Ready = the worker holds its partitions, so a first report is handled at once.
        wait_http_ready(f"http://127.0.0.1:{settings.worker_metrics_port}/readyz", 120, alive)
        _banner(base, tokens, logs)
        interrupted = wait_for_signal(alive)
        if not interrupted:
            print("A GridHub process exited; stopping the stack. Logs:", logs)
            return 1
        print("\nStopping...")
        return 0
    finally:
        stop_all(children)
        if broker is not None:
            broker.stop()
        print("GridHub stopped.")


def _banner(base: str, tokens: dict[str, str], logs: Path) -> None:
    print(f"\nGridHub is up.\n  API       {base}/api/v1/\n  API docs  {base}/docs")
    print(f"  OpenAPI   {base}/openapi.json\n  Schemas   {base}/schemas/\n  Logs      {logs}")
    print("\nDemo tokens (synthetic district; use as 'Authorization: Bearer <token>'):")
    for role, value in tokens.items():
        print(f"  {role:<12} {value}")
    print("\nTry:")
    print(
        f"  curl -s -X POST {base}/api/v1/reports -H 'Authorization: Bearer "
        f"{tokens['grid_worker']}' -H 'Content-Type: application/json' -d "
        """'{"category":"manhole_cover","description":"井盖缺失","grid_code":"990101001001001"}'"""
    )
    print(f"  curl -s {base}/api/v1/cases -H 'Authorization: Bearer {tokens['operator']}'")
    print("\nCtrl-C stops everything.")
