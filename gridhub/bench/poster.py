"""The latency phase's load generator, in a process of its own: POSTs report bodies
to the gateway at a fixed rate (open loop: each request at its own scheduled start,
waiting for a free connection counts) and writes, per report, what happened.

It runs apart from the bench so that the bench's own work (polling the database,
reading each report back through the API) shares neither its event loop nor its
interpreter lock: in one process, the client's own delays were measured as the
hub's latency and capped the rate it could offer. aiohttp's client costs a fraction
of httpx's per request. Schedules are on ``time.monotonic()`` (CLOCK_MONOTONIC, one
clock for every process on the machine), so the bench compares them with its own.

usage: python -m gridhub.bench.poster BASE_URL TOKEN RATE START BODIES OUT
  BODIES: one JSON body a line (the first ``--warmup`` lines are sent at once and
  not recorded); OUT: a JSON object, ``accepted`` (report id -> scheduled start),
  ``http_ms``, ``failures``, ``retried``, ``unfinished`` and ``seconds``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson

RETRIED_ERRORS = (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)


async def post_all(
    base: str, token: str, rate: float, start: float, bodies: list[bytes], warmup: int
) -> dict[str, Any]:
    # Reports come from many phones at once, each with its own connection: enough
    # connections that a request is never held back for one while the gateway takes
    # 200 ms to answer (a slower answer then shows as latency, not as a lower rate).
    concurrency = max(16, math.ceil(rate / 5))
    accepted: dict[str, float] = {}
    http_ms: list[float] = []
    failures: list[str] = []
    retried: list[str] = []
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(
        base_url=base, connector=connector, timeout=timeout, headers=headers
    ) as session:

        async def post(body: bytes, scheduled: float | None) -> None:
            report_id = orjson.loads(body)["report_id"]
            for attempt in range(3):
                begun = time.monotonic()
                try:
                    async with session.post("/api/v1/reports", data=body) as response:
                        text = await response.read()
                        status = response.status
                    break
                except RETRIED_ERRORS as exc:
                    # A keep-alive connection the server closed as it was reused: a
                    # phone would send the same report id again, harmlessly.
                    if attempt == 2:
                        failures.append(f"{type(exc).__name__}: {exc}")
                        return
                    retried.append(report_id)
                except (aiohttp.ClientError, TimeoutError) as exc:
                    failures.append(f"{type(exc).__name__}: {exc}")
                    return
            if status != 202:
                failures.append(f"HTTP {status}: {text[:200].decode(errors='replace')}")
                return
            if scheduled is not None:
                accepted[report_id] = scheduled
                http_ms.append(1000.0 * (time.monotonic() - begun))

        await asyncio.gather(*(post(body, None) for body in bodies[:warmup]))
        if failures:
            return {"failures": failures, "accepted": {}, "http_ms": [], "retried": []}
        measured = bodies[warmup:]
        tasks: list[asyncio.Task[None]] = []
        for n, body in enumerate(measured):
            scheduled = start + n / rate
            delay = scheduled - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(post(body, scheduled)))
        budget = max(60.0, 10 * len(measured) / rate)
        _, unfinished = await asyncio.wait(tasks, timeout=budget) if tasks else ((), set())
        for task in unfinished:
            task.cancel()
        await asyncio.gather(*unfinished, return_exceptions=True)
    return {
        "accepted": accepted,
        "http_ms": http_ms,
        "failures": failures,
        "retried": retried,
        "unfinished": len(unfinished),
        "seconds": time.monotonic() - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m gridhub.bench.poster")
    parser.add_argument("base")
    parser.add_argument("token")
    parser.add_argument("rate", type=float)
    parser.add_argument("start", type=float, help="time.monotonic() of the first request")
    parser.add_argument("bodies", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--warmup", type=int, default=0)
    args = parser.parse_args()
    bodies = [line for line in args.bodies.read_bytes().splitlines() if line]
    result = asyncio.run(
        post_all(args.base, args.token, args.rate, args.start, bodies, args.warmup)
    )
    args.out.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
