"""The latency phase: reports POSTed to a real gateway at a fixed rate (open loop,
each at its own scheduled start) by a load generator in a process of its own
(``poster.js`` on Node: about a tenth of a core at 500 requests a second, where
the bench's former httpx client took most of one of the two cores the hub under
test runs on), and per report the time from that start to its case
showing in the duty office's live queue: the API's Server-Sent Events stream of
case changes (``GET /api/v1/stream/cases``), whose ``opened`` or
``report_attached`` event names the report.

The live queue is what an operator watches during a storm, and one stream tells
the bench about every report as it happens: no polling. (Polling the database for
thousands of pending ids every few milliseconds and then reading each report back
through the API cost the bench most of a core, and the database and gateway more,
on the two cores the hub under test runs on.)
Schedules and arrivals are both on ``time.monotonic()``, the one clock of every
process on the machine.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from gridhub.bench.results import BenchError, LatencyRun, system_tool
from gridhub.console import StatusLine

POSTER = "poster.js"
STREAM_PATH = "/api/v1/stream/cases"
SHOWING = frozenset({"opened", "report_attached"})  # events that put a report in the queue


class LiveQueue:
    """Follows the case stream as an operator does and notes when each report first
    shows (``time.monotonic``); reconnects with ``Last-Event-ID`` if the stream ends."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.token = token
        self.shown: dict[str, float] = {}
        self.connected = asyncio.Event()
        self.errors: list[str] = []

    async def run(self) -> None:
        last_id: str | None = None
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)
        async with aiohttp.ClientSession(base_url=self.base_url, timeout=timeout) as session:
            while True:
                headers = {"Authorization": f"Bearer {self.token}"}
                if last_id is not None:
                    headers["Last-Event-ID"] = last_id
                try:
                    async with session.get(STREAM_PATH, headers=headers) as response:
                        if response.status != 200:
                            raise BenchError(
                                f"latency: the live queue answered {response.status}: "
                                f"{(await response.text())[:200]}"
                            )
                        self.connected.set()
                        last_id = await self._read(response, last_id)
                except (aiohttp.ClientError, TimeoutError) as exc:
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                    await asyncio.sleep(0.2)

    async def _read(self, response: aiohttp.ClientResponse, last_id: str | None) -> str | None:
        event_id, data = last_id, b""
        async for raw in response.content:
            line = raw.rstrip(b"\r\n")
            if line.startswith(b"id:"):
                event_id = line[3:].strip().decode()
            elif line.startswith(b"data:"):
                data += line[5:].strip()
            elif not line and data:
                self._note(data, time.monotonic())
                data = b""
        return event_id

    def _note(self, data: bytes, at: float) -> None:
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        if not isinstance(event, dict) or event.get("type") not in SHOWING:
            return
        report_id = (event.get("data") or {}).get("report_id")
        if report_id:
            self.shown.setdefault(str(report_id), at)


async def measure_latency(
    base_url: str,
    token: str,
    reader_token: str,
    bodies: Sequence[dict[str, Any]],
    rate: float,
    status: StatusLine,
    workdir: Path,
    warmup: Sequence[dict[str, Any]] = (),
    settle_seconds: float = 30.0,
) -> LatencyRun:
    """POST ``bodies`` (each with its ``report_id``) at ``rate``/s from the poster
    process (:data:`POSTER`) and measure each request's scheduled start → its report in the live
    queue."""
    body_file = workdir / "latency-bodies.jsonl"
    out_file = workdir / "latency-result.json"
    with body_file.open("wb") as out:
        for body in [*warmup, *bodies]:
            out.write(orjson.dumps(body) + b"\n")
    queue = LiveQueue(base_url, reader_token)
    watching = asyncio.create_task(queue.run())
    poster: asyncio.subprocess.Process | None = None
    try:
        await asyncio.wait_for(_until(queue.connected, watching), timeout=30)
        start = time.monotonic() + 2.0 + len(warmup) / 200  # after its start-up and warm-up
        with as_file(files("gridhub.bench").joinpath(POSTER)) as script:
            poster = await asyncio.create_subprocess_exec(
                system_tool("node", "nodejs"), str(script),
                base_url, token, str(rate), repr(start), str(body_file), str(out_file),
                str(len(warmup)),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
        total = len(bodies)
        waiting = asyncio.create_task(poster.communicate())
        while not waiting.done():
            offered = min(total, max(0, int((time.monotonic() - start) * rate)))
            status.show(
                f"latency: {offered}/{total} offered at {rate:g}/s, "
                f"{len(queue.shown)} in the live queue"
            )
            await asyncio.wait({waiting, watching}, timeout=0.5, return_when="FIRST_COMPLETED")
            if watching.done():
                watching.result()  # its error
        _, stderr = waiting.result()
        if poster.returncode != 0:
            raise BenchError(f"latency: the poster failed:\n{stderr.decode()[-2000:]}")
        posted = json.loads(out_file.read_text())
        accepted: dict[str, float] = posted["accepted"]
        failures: list[str] = posted["failures"]
        if not accepted:
            first = failures[0] if failures else "nothing sent"
            raise BenchError(f"latency: nothing accepted ({len(failures)} failed; {first})")
        deadline = time.monotonic() + settle_seconds
        while time.monotonic() < deadline and not all(rid in queue.shown for rid in accepted):
            status.show(
                f"latency: {total} offered, {len(queue.shown)}/{len(accepted)} in the live queue"
            )
            await asyncio.sleep(0.05)
    finally:
        if poster is not None and poster.returncode is None:
            poster.kill()
            await poster.wait()
        watching.cancel()
        await asyncio.gather(watching, return_exceptions=True)

    # In the order sent, so a latency that grows during the run shows (a backlog).
    latencies = [
        max(0.0, 1000.0 * (queue.shown[rid] - at))
        for rid, at in sorted(accepted.items(), key=lambda kv: kv[1])
        if rid in queue.shown
    ]
    status.show(
        f"latency: {len(bodies)} sent, {len(latencies)}/{len(accepted)} in the live queue",
        force=True,
    )
    if not latencies:
        first = failures[0] if failures else "no report showed in the live queue"
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


async def _until(event: asyncio.Event, task: asyncio.Task[None]) -> None:
    """Wait for ``event``; raise what ``task`` raised if it ends first."""
    waiter = asyncio.create_task(event.wait())
    await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
    if not waiter.done():
        waiter.cancel()
        task.result()
