"""The delivery guards are written against one faust-streaming release.

``streams/delivery.py`` subclasses Faust's consumer and producer and reads their
private bookkeeping (``_acked``, ``_gap``, ``_committed_offset``,
``_unacked_messages``, ``_new_offset``, ``ack_lock``...), and ``streams/tables.py``
sets a stream's current event; a new release may change any of it silently."""

from __future__ import annotations

import tomllib
from importlib.metadata import version
from pathlib import Path

PINNED = "0.15.3"

RECHECK = f"""faust-streaming is pinned to {PINNED}; before moving the pin, re-check:
- streams/delivery.py: GaplessConsumer (perform_seek, ack and its ack_lock,
  _new_offset, head_missing over _acked/_gap/_committed_offset, _drain_messages:
  a copy of upstream's with hand_over, fingerprinted in test_handover.py), DrainingProducer
  (send_soon, flush), GuardedApp (_new_transport, _new_producer_transport),
  rewind_stalled and InOrder — and each guard's upstream note (faust#606 / PR #707,
  #596, PR #223, PR #273): drop the guards the new release makes unnecessary;
- streams/tables.py: PinnedTable.partition_for_key and current_events
  (Stream._set_current_event);
- streams/app.py: cython_optimizations (the repaired Cython fast paths, opt-in in
  0.15.3) and table_standby_replicas=0 (the in-memory store recovers from the
  changelog's start anyway);
- the canary tests: tests/unit/streams/test_delivery.py
  (test_faust_alone_commits_over_one_missing_record fails once faust#606 is fixed)
  and the crash test tests/integration/streams/test_crash.py, then the fault suite."""


def test_faust_streaming_is_the_pinned_release() -> None:
    installed = version("faust-streaming")
    assert installed == PINNED, f"faust-streaming {installed} installed.\n{RECHECK}"


def test_the_project_pins_the_same_release() -> None:
    pyproject = tomllib.loads((Path(__file__).parents[3] / "pyproject.toml").read_text())
    assert f"faust-streaming=={PINNED}" in pyproject["project"]["dependencies"], RECHECK
