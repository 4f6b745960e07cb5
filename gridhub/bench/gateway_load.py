"""The gateway phase: ``wrk`` (Debian's package, a C load generator in a process of
its own, so the bench's Python shares neither the event loop nor much CPU with what
it measures) POSTs to a gateway running alone beside the broker, with the worker
stopped: single reports to ``POST /api/v1/reports``, then CloudEvents batches to
``POST /api/v1/events``.

The request bodies and their tokens are written one a line (``TOKEN<TAB>BODY``) to a
file that ``wrk_post.lua`` cycles through: many tokens, as many phones would be
(a rate limit is per token, and this is not a rate-limit test).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from gridhub.bench.results import BenchError, system_tool

SCRIPT = "wrk_post.lua"
MARKER = "gridhub-wrk "


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    non_2xx: int
    socket_errors: int
    p99_ms: float

    @property
    def per_second(self) -> float:
        """Answered requests per second (answers other than 2xx left out)."""
        return max(0, self.requests - self.non_2xx) / self.seconds if self.seconds else 0.0


def write_bodies(path: Path, lines: Sequence[tuple[str, bytes]]) -> Path:
    """``(token, body)`` pairs, one a line, for :data:`SCRIPT`."""
    with path.open("wb") as out:
        for token, body in lines:
            if b"\n" in body or "\t" in token:
                raise ValueError("bodies must be one line and tokens have no tab")
            out.write(token.encode() + b"\t" + body + b"\n")
    return path


def parse(output: str) -> WrkResult:
    """The JSON line the script prints at the end."""
    for line in output.splitlines():
        if line.startswith(MARKER):
            doc = json.loads(line[len(MARKER) :])
            return WrkResult(
                requests=int(doc["requests"]),
                seconds=int(doc["duration_us"]) / 1e6,
                non_2xx=int(doc["non_2xx"]),
                socket_errors=sum(
                    int(doc[k])
                    for k in ("connect_errors", "read_errors", "write_errors", "timeouts")
                ),
                p99_ms=int(doc["latency_p99_us"]) / 1000,
            )
    raise BenchError(f"wrk printed no result:\n{output[-2000:]}")


def run_wrk(
    url: str,
    bodies: Path,
    *,
    seconds: float,
    connections: int,
    content_type: str = "application/json",
    threads: int = 2,
) -> WrkResult:
    """``wrk`` POSTing the bodies to ``url`` for ``seconds`` over ``connections``."""
    script = files("gridhub.bench").joinpath(SCRIPT)
    command = [
        system_tool("wrk", "wrk"),
        f"-t{max(1, min(threads, connections))}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
        "--",
        str(bodies),
        content_type,
    ]
    done = subprocess.run(  # noqa: S603 - wrk from PATH, our own arguments
        command, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    if done.returncode != 0:
        raise BenchError(f"wrk failed ({done.returncode}): {done.stderr[-1000:]}")
    return parse(done.stdout)
