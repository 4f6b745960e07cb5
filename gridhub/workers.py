"""``gridhub worker --processes N``: N worker processes sharing the partitions.

A worker runs every stage on one event loop, so one process uses one core at
most; the hub's throughput on a multi-core machine comes from several. Each
process is a plain ``gridhub worker`` with the same app id, i.e. a member of the
same consumer group: Kafka spreads the partitions over them and moves a dead
one's partitions to the others (DESIGN.md §7 — the one-writer-per-case rule
holds across processes as it does across machines). Process ``i`` serves its
health and metrics on ``worker_metrics_port + i``, runs Faust's web server on
``worker_web_port + i`` and keeps its runtime state in ``home/worker-i``.

This parent only starts, watches and stops them:

- SIGTERM: passed on to every child once; the parent waits for them (SIGKILL
  after :data:`~gridhub.local.processes.STOP_SECONDS`). Ctrl-C in a terminal
  reaches the whole process group, children included, which stop by themselves.
- A child that exits while the others run is started again (its partitions
  are served by the others meanwhile); one that keeps failing within
  :data:`FAILING_SECONDS` of its start, :data:`GIVE_UP` times in a row, stops
  the lot with an error.
- The children stay in the parent's process group: a SIGKILL of the group (a
  test, an orchestrator) ends them all.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import FrameType

from gridhub.local.processes import STOP_SECONDS
from gridhub.settings import Settings

log = logging.getLogger(__name__)

FAILING_SECONDS = 10.0
GIVE_UP = 3
POLL_SECONDS = 0.5


def worker_command(index: int) -> list[str]:
    return [sys.executable, "-m", "gridhub", "worker", "--processes", "1", "--index", str(index)]


def worker_env(settings: Settings, index: int, base: Mapping[str, str]) -> dict[str, str]:
    return {
        **base,
        "GRIDHUB_WORKER_WEB_PORT": str(settings.worker_web_port + index),
        "GRIDHUB_WORKER_METRICS_PORT": str(settings.worker_metrics_port + index),
    }


@dataclass
class _Child:
    index: int
    proc: subprocess.Popen[bytes]
    started: float = field(default_factory=time.monotonic)
    failures: int = 0


def run_workers(settings: Settings, count: int) -> int:
    """Run ``count`` worker processes until SIGTERM/SIGINT; the exit code."""
    stop = threading.Event()
    forward = threading.Event()

    def on_term(signum: int, frame: FrameType | None) -> None:
        forward.set()
        stop.set()

    def on_int(signum: int, frame: FrameType | None) -> None:
        stop.set()  # the children, in our process group, had it too

    previous = {
        signal.SIGTERM: signal.signal(signal.SIGTERM, on_term),
        signal.SIGINT: signal.signal(signal.SIGINT, on_int),
    }

    def start(index: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen(  # noqa: S603 - our own interpreter and entry point
            worker_command(index), env=worker_env(settings, index, os.environ)
        )

    children = [_Child(i, start(i)) for i in range(count)]
    code = 0
    try:
        while not stop.wait(POLL_SECONDS):
            for child in children:
                exit_code = child.proc.poll()
                if exit_code is None:
                    continue
                quick = time.monotonic() - child.started < FAILING_SECONDS
                child.failures = child.failures + 1 if quick else 1
                if child.failures >= GIVE_UP:
                    log.error("worker %d keeps failing (exit %d): stopping", child.index, exit_code)
                    code = 1
                    forward.set()
                    stop.set()
                    break
                log.warning("worker %d exited (%d); starting it again", child.index, exit_code)
                child.proc, child.started = start(child.index), time.monotonic()
    finally:
        for child in children:
            if forward.is_set() and child.proc.poll() is None:
                child.proc.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.proc.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                child.proc.kill()
                child.proc.wait()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return code
