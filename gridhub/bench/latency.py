"""The latency phase: reports POSTed to a real gateway at a fixed rate (open loop,
each at its own scheduled start), and per report the time from that start to its
case being visible through the API (``GET /api/v1/reports/{id}`` answers its
``case_id``).

Asking the API for every pending report every few milliseconds would load the
gateway being measured, so :class:`SeenTracker` polls the ``reports`` table every
5 ms with the cheapest query the database allows, and each report it sees is then
read through the API until the answer has its case: the clock stops at that answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx
from sqlalchemy import Connection, Engine, select

from gridhub.bench.results import BenchError, LatencyRun
from gridhub.console import StatusLine
from sinks.models import reports


class SeenTracker:
    """A thread that polls the ``reports`` table every ``interval`` seconds for the
    pending report ids and notes when each first shows up (``time.perf_counter``)."""

    def __init__(self, engine: Engine, interval: float = 0.005) -> None:
        self.engine = engine
        self.interval = interval
        self.seen: dict[str, float] = {}
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-seen", daemon=True)
        self.error: BaseException | None = None

    def expect(self, report_id: str) -> None:
        with self._lock:
            if report_id not in self.seen:
                self._pending.add(report_id)

    def forget(self, report_id: str) -> None:
        with self._lock:
            self._pending.discard(report_id)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)

    def _run(self) -> None:
        try:
            with self.engine.connect() as conn:
                lookup = self._lookup(conn)
                while not self._stop.is_set():
                    with self._lock:
                        ids = list(self._pending)
                    if ids:
                        found = lookup(ids)
                        at = time.perf_counter()
                        with self._lock:
                            for report_id in found:
                                self.seen.setdefault(report_id, at)
                                self._pending.discard(report_id)
                    self._stop.wait(self.interval)
        except BaseException as exc:  # reported by the caller
            self.error = exc

    def _lookup(self, conn: Connection) -> Callable[[list[str]], list[str]]:
        """The cheapest query per poll: polling every 5 ms must not eat the CPU the
        system under test needs (one ``= ANY(array)`` statement on PostgreSQL)."""
        if conn.dialect.name == "postgresql":
            raw: Any = conn.connection.dbapi_connection
            raw.autocommit = True  # each poll sees the latest commits

            def on_postgres(ids: list[str]) -> list[str]:
                with raw.cursor() as cursor:
                    cursor.execute("SELECT id FROM reports WHERE id = ANY(%s)", (ids,))
                    return [str(row[0]) for row in cursor.fetchall()]

            return on_postgres

        def generic(ids: list[str]) -> list[str]:
            found: list[str] = []
            for start in range(0, len(ids), 500):
                query = select(reports.c.id).where(reports.c.id.in_(ids[start : start + 500]))
                found += [str(row[0]) for row in conn.execute(query)]
            conn.rollback()  # a fresh snapshot for the next poll
            return found

        return generic


class ApiConfirmer:
    """Reads each report the tracker saw through the API until its answer carries
    the case; :attr:`visible` is when that answer arrived (``time.perf_counter``)."""

    def __init__(self, base_url: str, token: str, tracker: SeenTracker, clients: int = 8) -> None:
        self.base_url = base_url
        self.token = token
        self.tracker = tracker
        self.clients = clients
        self.visible: dict[str, float] = {}
        self.errors: list[str] = []

    async def run(self, stop: asyncio.Event) -> None:
        queue: asyncio.Queue[str] = asyncio.Queue()
        asked: set[str] = set()

        async def reader() -> None:
            async with httpx.AsyncClient(
                base_url=self.base_url,
                headers={"Authorization": f"Bearer {self.token}"},
                limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
                timeout=httpx.Timeout(30.0),
            ) as client:
                while True:
                    report_id = await queue.get()
                    try:
                        response = await client.get(f"/api/v1/reports/{report_id}")
                    except httpx.HTTPError as exc:
                        self.errors.append(f"{type(exc).__name__}: {exc}")
                        response = None
                    at = time.perf_counter()
                    if (
                        response is not None
                        and response.status_code == 200
                        and response.json().get("case_id")
                    ):
                        self.visible[report_id] = at
                        continue
                    await asyncio.sleep(0.005)  # not yet: ask again
                    queue.put_nowait(report_id)

        readers = [asyncio.create_task(reader()) for _ in range(self.clients)]
        try:
            while not stop.is_set():
                for report_id in list(self.tracker.seen):
                    if report_id not in asked:
                        asked.add(report_id)
                        queue.put_nowait(report_id)
                await asyncio.sleep(0.002)
        finally:
            for task in readers:
                task.cancel()
            await asyncio.gather(*readers, return_exceptions=True)


async def measure_latency(
    base_url: str,
    token: str,
    reader_token: str,
    bodies: Sequence[tuple[str, dict[str, Any]]],
    rate: float,
    tracker: SeenTracker,
    status: StatusLine,
    warmup: Sequence[tuple[str, dict[str, Any]]] = (),
    settle_seconds: float = 30.0,
) -> LatencyRun:
    """POST ``bodies`` at ``rate``/s (open loop: each at its own scheduled start) and
    measure that start → the report's case visible through the API."""
    concurrency = max(8, math.ceil(rate / 25))
    accepted_at: dict[str, float] = {}  # report id -> scheduled start of its request
    http_ms: list[float] = []
    failures: list[str] = []
    retries: list[str] = []
    confirmer = ApiConfirmer(base_url, reader_token, tracker)
    stop_confirming = asyncio.Event()
    confirming = asyncio.create_task(confirmer.run(stop_confirming))

    async with contextlib.AsyncExitStack() as clients:
        # One single-connection client per in-flight request, handed out by a queue:
        # a shared pool re-scans all its connections (and every waiter) on each
        # request, which on this box costs the client a good part of a core.
        idle: asyncio.Queue[httpx.AsyncClient] = asyncio.Queue()
        for _ in range(concurrency):
            idle.put_nowait(
                await clients.enter_async_context(
                    httpx.AsyncClient(
                        base_url=base_url,
                        headers={"Authorization": f"Bearer {token}"},
                        limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
                        timeout=httpx.Timeout(30.0),
                    )
                )
            )

        async def post(
            report_id: str, body: dict[str, Any], record: bool, scheduled: float
        ) -> None:
            client = await idle.get()  # waiting for a connection counts: open loop
            try:
                await send(client, report_id, body, record, scheduled)
            finally:
                idle.put_nowait(client)

        async def send(
            client: httpx.AsyncClient,
            report_id: str,
            body: dict[str, Any],
            record: bool,
            scheduled: float,
        ) -> None:
            tracker.expect(report_id)
            begun = time.perf_counter()
            for attempt in range(3):
                try:
                    response = await client.post("/api/v1/reports", json=body)
                    break
                except (httpx.ReadError, httpx.RemoteProtocolError, httpx.WriteError) as exc:
                    # A keep-alive connection the server closed as we reused it: a
                    # phone would retry the same report id, harmlessly.
                    if attempt == 2:
                        tracker.forget(report_id)
                        failures.append(f"{type(exc).__name__}: {exc!r}")
                        return
                    retries.append(report_id)
                    begun = time.perf_counter()
                except httpx.HTTPError as exc:
                    tracker.forget(report_id)
                    failures.append(f"{type(exc).__name__}: {exc!r}")
                    return
            done = time.perf_counter()
            if response.status_code != 202:
                tracker.forget(report_id)
                failures.append(f"HTTP {response.status_code}: {response.text[:200]}")
                return
            if record:
                accepted_at[report_id] = scheduled
                http_ms.append(1000.0 * (done - begun))

        # Warm-up (not measured): connections, the gateway's producer, the worker's fetch.
        now = time.perf_counter()
        await asyncio.gather(*(post(rid, body, False, now) for rid, body in warmup))
        warm_deadline = time.monotonic() + settle_seconds
        while warmup and tracker.pending and time.monotonic() < warm_deadline:
            await asyncio.sleep(0.05)
        if failures:
            raise BenchError(f"latency warm-up: {failures[0]}")

        tasks: list[asyncio.Task[None]] = []
        started = time.perf_counter()
        for n, (report_id, body) in enumerate(bodies):
            scheduled = started + n / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(post(report_id, body, True, scheduled)))
            elapsed = time.perf_counter() - started
            status.show(
                f"latency: {n + 1}/{len(bodies)} sent {(n + 1) / elapsed if elapsed else 0:,.0f}/s"
                f", {len(confirmer.visible)} visible"
            )
        budget = max(60.0, 10 * len(bodies) / rate)
        _, unfinished = await asyncio.wait(tasks, timeout=budget)
        for task in unfinished:
            task.cancel()
        await asyncio.gather(*unfinished, return_exceptions=True)
        send_seconds = time.perf_counter() - started
        deadline = time.monotonic() + settle_seconds
        while time.monotonic() < deadline and not all(
            rid in confirmer.visible for rid in accepted_at
        ):
            if tracker.error is not None:
                raise BenchError(f"latency: polling the database failed: {tracker.error}")
            await asyncio.sleep(0.02)
        stop_confirming.set()
        await confirming

    # In the order sent, so a latency that grows during the run shows (a backlog).
    latencies = [
        max(0.0, 1000.0 * (confirmer.visible[rid] - at))
        for rid, at in sorted(accepted_at.items(), key=lambda kv: kv[1])
        if rid in confirmer.visible
    ]
    status.show(
        f"latency: {len(bodies)} sent, {len(latencies)}/{len(accepted_at)} visible", force=True
    )
    if not latencies:
        first = failures[0] if failures else "no report row showed up"
        raise BenchError(f"latency: nothing measured ({len(failures)} failed; {first})")
    return LatencyRun(
        rate=rate,
        seconds=len(bodies) / rate,
        sent=len(bodies),
        accepted=len(accepted_at),
        seen=len(latencies),
        failed=len(failures),
        unfinished=len(unfinished),
        retried=len(retries),
        first_failure=failures[0] if failures else "",
        achieved_rate=len(accepted_at) / send_seconds if send_seconds > 0 else 0.0,
        latencies_ms=latencies,
        http_ms=http_ms,
    )
