"""The worker's garbage-collector policy (streams.gcpolicy): thresholds raised, what
lives at start-up and after a recovery frozen, the collector's seconds exported."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import faust
import pytest
from prometheus_client import CollectorRegistry

from streams import gcpolicy


@pytest.fixture
def restored() -> Iterator[None]:
    """The policy changes the whole process: put the test runner's GC back."""
    thresholds, callbacks = gc.get_threshold(), list(gc.callbacks)
    yield
    gc.set_threshold(*thresholds)
    gc.callbacks[:] = callbacks
    gc.unfreeze()


async def test_install_freezes_what_lives_and_raises_the_thresholds(restored) -> None:
    app = faust.App("gc-test", broker="kafka://127.0.0.1:1", autodiscover=False)
    registry = CollectorRegistry()
    policy = gcpolicy.GcPolicy(young=12_345, middle=7, old=9)
    timer = gcpolicy.install(app, policy, registry)
    assert gc.get_threshold() == (12_345, 7, 9)
    frozen = gc.get_freeze_count()
    assert frozen > 0
    assert timer in gc.callbacks

    survivor = [[n] for n in range(1000)]  # tracked (lists), and lives on like table values
    await app.on_rebalance_complete.send()  # a recovery has completed
    assert gc.get_freeze_count() >= frozen + len(survivor)

    gc.collect(0)
    seconds = registry.get_sample_value("gridhub_gc_seconds_total", {"generation": "0"})
    assert seconds is not None and seconds > 0


def test_the_timer_counts_each_collection_in_its_generation() -> None:
    timer = gcpolicy.GcTimer()
    timer("start", {"generation": 1})
    timer("stop", {"generation": 1})
    assert timer.seconds[0] == 0 and timer.seconds[2] == 0 and timer.seconds[1] > 0
