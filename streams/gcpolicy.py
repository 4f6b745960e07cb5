"""The worker's garbage-collector policy: what lives long is frozen, young garbage is
collected on a timer, and full collections are rare and scheduled.

Why: CPython's cyclic collector runs a full pass whenever the objects promoted
since the last one exceed a quarter of the old generation. A worker's heap is
mostly long-lived (the app, its agents and tables, the district's rules, the
case records) and the hot path makes many medium-lived objects (a batch's
decoded reports and events): with the default thresholds the collector walked
the whole heap every few hundred reports and took about a third of the
worker's CPU. So:

- after start-up and after every recovery of the tables (a rebalance), one full
  collection, then :func:`gc.freeze`: what survived moves to the permanent
  generation, which no collection walks again;
- generation 0 is collected after ``young`` allocations instead of 700, and the
  older generations almost never by the allocation counters;
- a timer collects generations 0 and 1 every ``young_seconds`` (so cyclic
  garbage does not wait for the counters) and re-freezes after a full
  collection every ``full_seconds`` (so what became long-lived since, such as
  new case records, leaves the generations that are walked, and cyclic garbage
  among the frozen objects is freed).

The worker's memory is watched in the soak run of ``gridhub bench``; the
seconds spent collecting are exported as ``gridhub_gc_seconds``.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import faust
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GcPolicy:
    young: int = 50_000
    middle: int = 50
    old: int = 100
    young_seconds: float = 10.0
    full_seconds: float = 300.0


def refreeze() -> float:
    """One full collection of everything, then freeze what survived; seconds taken."""
    started = time.perf_counter()
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    return time.perf_counter() - started


class GcTimer:
    """Seconds spent in the collector, by generation (a ``gc.callbacks`` hook that
    only adds floats: a callback taking a lock could meet its own thread holding it)."""

    def __init__(self) -> None:
        self.seconds = [0.0, 0.0, 0.0]
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds[int(info.get("generation", 2))] += time.perf_counter() - self._started

    def collect(self) -> Iterator[CounterMetricFamily]:
        """Prometheus: ``gridhub_gc_seconds_total`` by generation."""
        family = CounterMetricFamily(
            "gridhub_gc_seconds", "Seconds in the cyclic garbage collector", labels=["generation"]
        )
        for generation, seconds in enumerate(self.seconds):
            family.add_metric([str(generation)], seconds)
        yield family


def install(app: faust.App, policy: GcPolicy, registry: CollectorRegistry | None = None) -> GcTimer:
    """Apply ``policy`` to this process now and after every table recovery of
    ``app``, and export the collector's seconds on ``registry``. Call it once the
    app and its agents are built (the composition root does)."""
    gc.set_threshold(policy.young, policy.middle, policy.old)
    timer = GcTimer()
    gc.callbacks.append(timer)
    if registry is not None:
        registry.register(timer)
    seconds = refreeze()
    log.info("gc: start-up frozen in %.3fs, %d objects permanent", seconds, gc.get_freeze_count())

    async def after_recovery(*args: Any, **kwargs: Any) -> None:
        # The recovered table values are long-lived: out of the walked generations.
        refreeze()

    app.on_rebalance_complete.connect(after_recovery)
    last_full = [time.monotonic()]

    async def collect() -> None:
        now = time.monotonic()
        if now - last_full[0] >= policy.full_seconds:
            last_full[0] = now
            refreeze()
        else:
            gc.collect(1)

    app.timer(policy.young_seconds, name="gridhub.gc")(collect)
    return timer
