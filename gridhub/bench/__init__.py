"""``gridhub bench``: the performance targets of DESIGN.md §9, measured in one run.

1. **Baseline** — a tuned one-hop aiokafka pass-through on the same broker: N
   CloudEvent-sized records pre-produced to topic A, then copied to topic B by a
   consumer fetching with ``getmany(max_records=...)`` and a lingering, batching
   producer (acks=all, like the worker). Timed from the first record fetched to
   the last one acknowledged.
2. **Full loop** — N distinct report CloudEvents (structured mode, every demo grid
   and category) pre-produced to a fresh ``gridhub.intake``; then one real
   ``gridhub worker`` process starts, and the clock runs from the first report row
   in the database to the N-th (sustained rate; the rate from the worker's
   "ready" is shown too). Reports are counted, not cases: near-duplicates merge.
   Once on PostgreSQL and once on SQLite, each on a fresh database and topics.
3. **Latency** — with the PostgreSQL worker still running, a real ``gridhub
   gateway`` gets ``POST /api/v1/reports`` at a fixed rate; per report, the time
   from its HTTP 202 to its row in the ``reports`` table (polled every 5 ms).

Everything it starts (broker, PostgreSQL, worker, gateway, temp dirs, topics and
databases on servers it was given) is stopped or removed at the end, also on
Ctrl-C or failure. All load goes to 127.0.0.1 (or the broker/database given).

Modules: ``run`` (the :class:`Bench` orchestrator), ``records`` (the load),
``baseline`` (phase 1), ``broker`` (offsets and lag read from the broker),
``latency`` (phase 3), ``machine`` (machine facts and CPU use), ``results`` (the
figures, the JSON and the table). Child processes come from
:mod:`gridhub.local.processes`.
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
