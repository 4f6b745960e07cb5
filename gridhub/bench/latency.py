"""The latency phase: reports POSTed to a real gateway at a fixed rate (open loop,
each at its own scheduled start) by a load generator in its own process
(:mod:`gridhub.bench.poster`), and per report the time from that start to its
case being visible through the API (``GET /api/v1/reports/{id}`` answers its
``case_id``).

Asking the API for every pending report every few milliseconds would load the
gateway being measured, so :class:`SeenTracker` polls the ``reports`` table every
5 ms with the cheapest query the database allows, and each report it sees is then
read through the API until the answer has its case: the clock stops at that answer.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from sqlalchemy import Connection, Engine, select

from gridhub.bench.results import BenchError, LatencyRun
from gridhub.console import StatusLine
from sinks.models import reports


class SeenTracker:
    """A thread that polls the ``reports`` table every ``interval`` seconds for the
    pending report ids and notes when each first shows up (``time.monotonic``)."""

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
                        at = time.monotonic()
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
    the case; :attr:`visible` is when that answer arrived (``time.monotonic``)."""

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
        session = aiohttp.ClientSession(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {self.token}"},
            connector=aiohttp.TCPConnector(limit=self.clients),
            timeout=aiohttp.ClientTimeout(total=30),
        )

        async def reader() -> None:
            while True:
                report_id = await queue.get()
                case_id = None
                try:
                    async with session.get(f"/api/v1/reports/{report_id}") as response:
                        if response.status == 200:
                            case_id = (await response.json()).get("case_id")
                except aiohttp.ClientError as exc:
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                at = time.monotonic()
                if case_id:
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
            await session.close()


async def measure_latency(
    base_url: str,
    token: str,
    reader_token: str,
    bodies: Sequence[tuple[str, dict[str, Any]]],
    rate: float,
    tracker: SeenTracker,
    status: StatusLine,
    workdir: Path,
    warmup: Sequence[tuple[str, dict[str, Any]]] = (),
    settle_seconds: float = 30.0,
) -> LatencyRun:
    """POST ``bodies`` at ``rate``/s from the poster process (:mod:`gridhub.bench.poster`)
    and measure each request's scheduled start → its case visible through the API."""
    body_file = workdir / "latency-bodies.jsonl"
    out_file = workdir / "latency-result.json"
    with body_file.open("wb") as out:
        for _, body in [*warmup, *bodies]:
            out.write(orjson.dumps(body) + b"\n")
    lead = 2.0 + len(warmup) / 200  # the poster starts and sends its warm-up first
    start = time.monotonic() + lead
    poster = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gridhub.bench.poster",
        base_url, token, str(rate), repr(start), str(body_file), str(out_file),
        "--warmup", str(len(warmup)),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    confirmer = ApiConfirmer(base_url, reader_token, tracker)
    stop_confirming = asyncio.Event()
    confirming = asyncio.create_task(confirmer.run(stop_confirming))
    try:
        # Each report is looked for from its scheduled start on (the poster's schedule).
        for n, (report_id, _) in enumerate(bodies):
            delay = start + n / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tracker.expect(report_id)
            if n % 100 == 0:
                status.show(
                    f"latency: {n + 1}/{len(bodies)} offered at {rate:g}/s, "
                    f"{len(confirmer.visible)} visible"
                )
        _, stderr = await poster.communicate()
        if poster.returncode != 0:
            raise BenchError(f"latency: the poster failed:\n{stderr.decode()[-2000:]}")
        posted = json.loads(out_file.read_text())
        accepted: dict[str, float] = posted["accepted"]
        failures: list[str] = posted["failures"]
        if not accepted and failures:
            raise BenchError(f"latency: nothing accepted ({len(failures)} failed; {failures[0]})")
        for report_id, _ in bodies:
            if report_id not in accepted:
                tracker.forget(report_id)
        deadline = time.monotonic() + settle_seconds
        while time.monotonic() < deadline and not all(rid in confirmer.visible for rid in accepted):
            if tracker.error is not None:
                raise BenchError(f"latency: polling the database failed: {tracker.error}")
            status.show(
                f"latency: {len(bodies)} offered, {len(confirmer.visible)}/{len(accepted)} visible"
            )
            await asyncio.sleep(0.02)
    finally:
        if poster.returncode is None:
            poster.kill()
            await poster.wait()
        stop_confirming.set()
        await confirming

    # In the order sent, so a latency that grows during the run shows (a backlog).
    latencies = [
        max(0.0, 1000.0 * (confirmer.visible[rid] - at))
        for rid, at in sorted(accepted.items(), key=lambda kv: kv[1])
        if rid in confirmer.visible
    ]
    status.show(
        f"latency: {len(bodies)} sent, {len(latencies)}/{len(accepted)} visible", force=True
    )
    if not latencies:
        first = failures[0] if failures else "no report row showed up"
        raise BenchError(f"latency: nothing measured ({len(failures)} failed; {first})")
    send_seconds = float(posted["seconds"])
    return LatencyRun(
        rate=rate,
        seconds=len(bodies) / rate,
        sent=len(bodies),
        accepted=len(accepted),
        seen=len(latencies),
        failed=len(failures),
        unfinished=int(posted["unfinished"]),
        retried=len(posted["retried"]),
        first_failure=failures[0] if failures else "",
        achieved_rate=len(accepted) / send_seconds if send_seconds > 0 else 0.0,
        latencies_ms=latencies,
        http_ms=posted["http_ms"],
    )
