"""Realistic synthetic district traffic (``gridhub simulate``, DESIGN.md §5 CLI).

Two halves, kept apart so the first can be unit-tested without a broker:

* **What to send** (pure, deterministic for a seed): :class:`TrafficGenerator`
  (``traffic.py``, CAP alerts in ``cap.py``) makes the inbound CloudEvents of the
  four source kinds, and :class:`FieldActors` (``actors.py``) decides what
  departments and grid workers do with each case event and after what delay. Their
  words are data, in ``corpus.yaml`` (``texts.py``).
* **Sending it** (:func:`run_simulation`, ``run.py``): one producer paced to the
  rate, one consumer of ``gridhub.case-events`` feeding :class:`FieldActors`, and a
  heap of delayed commands sent to ``gridhub.case-commands``.

Every text, name and number is synthetic and says so (``urn:gridhub:simulator:*``
sources); nothing describes a real place or person.
"""

from gridhub.simulate.actors import ActionPolicy, FieldActors, Planned, read_case_event
from gridhub.simulate.inbound import SOURCES, Inbound, Source
from gridhub.simulate.run import (
    SimulationError,
    SimulationOptions,
    SimulationTotals,
    run_simulation,
)
from gridhub.simulate.traffic import Mix, TrafficGenerator

__all__ = [
    "SOURCES",
    "ActionPolicy",
    "FieldActors",
    "Inbound",
    "Mix",
    "Planned",
    "SimulationError",
    "SimulationOptions",
    "SimulationTotals",
    "Source",
    "TrafficGenerator",
    "read_case_event",
    "run_simulation",
]
