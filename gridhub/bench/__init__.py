"""``gridhub bench``: the performance targets of DESIGN.md §9, measured in one run.

1. **Baseline** — a tuned one-hop aiokafka pass-through on the same broker: N (at
   least 100,000, so start-up does not dominate) CloudEvent-sized records copied from
   topic A to topic B, timed from the first record fetched to the last acknowledged.
2. **Same-hops baseline** — :mod:`gridhub.bench.hops`, a hand-written aiokafka
   program with the worker's hops and database writes and no domain logic, in as
   many processes as the worker; ``ratio`` is the full loop against it.
3. **Full loop** — N distinct report CloudEvents pre-produced to a fresh
   ``gridhub.intake``; then the ``gridhub worker`` processes start, and the clock runs
   from the first report row in the database until every consumer group of the
   worker has zero lag (hotspot, report-up and webhook work in flight counts).
   Once on PostgreSQL and once on SQLite, each on a fresh database and topics; the
   Kafka records written per report (changelogs included) and the workers' memory
   are read at the end.
4. **Latency** — with the PostgreSQL workers idle again, a real ``gridhub gateway``
   gets ``POST /api/v1/reports`` at a fixed rate (open loop, from a load generator
   in its own process); per report, from its scheduled request to its case in the
   duty office's live queue (the ``GET /api/v1/stream/cases`` event stream). A
   rate the loop does not sustain is a backlog, not a latency: no percentile is
   published for it.
5. **Gateway** — the workers stopped, ``wrk`` (a process of its own) drives the
   gateway's server processes: single reports, then CloudEvents batches.

``--soak N`` runs N reports through the full loop instead, sampling the workers'
memory, to show it stays flat (long; not for CI). The machine's load average is
printed with every run: run it on a quiet machine.

Everything it starts (broker, PostgreSQL, workers, gateway, wrk, temp dirs, topics and
databases on servers it was given) is stopped or removed at the end, also on Ctrl-C
or failure. All load goes to 127.0.0.1 (or the broker/database given).

Modules: ``run`` (the :class:`Bench` orchestrator), ``records`` (the load),
``baseline`` (phase 1), ``hops`` (phase 2), ``broker`` (offsets and lag read from the
broker), ``latency`` (phase 4), ``gateway_load`` (phase 5, with ``wrk_post.lua``),
``machine`` (machine facts, CPU and memory use), ``results`` (the figures, the JSON
and the table). Child processes come from :mod:`gridhub.local.processes`.
"""

from gridhub.bench.records import Record, report_records
from gridhub.bench.results import BenchConfig, BenchError, BenchResult, render
from gridhub.bench.run import Bench

__all__ = [
    "Bench",
    "BenchConfig",
    "BenchError",
    "BenchResult",
    "Record",
    "render",
    "report_records",
]
