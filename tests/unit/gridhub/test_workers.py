"""The parent of ``gridhub worker --processes N`` (gridhub.workers) with stand-in
children: each gets its own web and metrics ports, a child that keeps failing stops the lot."""

from __future__ import annotations

import sys

import pytest

from gridhub import workers
from gridhub.settings import Settings


def test_each_process_gets_its_own_web_and_metrics_ports() -> None:
    settings = Settings(worker_web_port=7000, worker_metrics_port=9200)
    assert workers.worker_env(settings, 2, {"A": "1"}) == {
        "A": "1",
        "GRIDHUB_WORKER_WEB_PORT": "7002",
        "GRIDHUB_WORKER_METRICS_PORT": "9202",
    }
    assert workers.worker_command(2)[-4:] == ["--processes", "1", "--index", "2"]


def test_a_child_that_keeps_failing_stops_the_lot(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers, "POLL_SECONDS", 0.05)
    monkeypatch.setattr(
        workers, "worker_command", lambda index: [sys.executable, "-c", "raise SystemExit(3)"]
    )
    assert workers.run_workers(Settings(), 2) == 1
