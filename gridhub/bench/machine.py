"""The machine a bench runs on, and what its processes cost: CPU model, versions of
Python, Kafka, PostgreSQL and SQLite, the load average, and :class:`CpuMeter`, the CPU
used by the worker, gateway, broker and database between two points (Linux procfs).
Only informative: a probe that fails answers "unknown" or leaves its figure out.
:func:`rss_mb` is the resident memory of some processes (the worker's, for the soak).
"""

from __future__ import annotations

import os
import platform
import sqlite3
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def broker_version(bootstrap: str) -> str:
    """The broker's version as its API versions tell it (kafka-python's probe)."""
    from kafka.admin import KafkaAdminClient

    try:
        admin: Any = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="gridhub-bench")
    except Exception:  # only informative
        return "unknown"
    try:
        version = admin._manager.broker_version  # private, but the only place it is kept
        return ".".join(str(v) for v in version) + "+ (from API versions)" if version else "unknown"
    except Exception:  # only informative
        return "unknown"
    finally:
        admin.close()


def postgres_version(engine: Engine) -> str:
    with engine.connect() as conn:
        return str(conn.execute(text("SHOW server_version")).scalar_one())


def machine_info(kafka: str, postgresql: str) -> dict[str, Any]:
    return {
        "cores": os.cpu_count() or 0,
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "kafka": kafka,
        "postgresql": postgresql,
        "sqlite": sqlite3.sqlite_version,
        "os": platform.platform(terse=True),
        "loadavg_at_start": round(os.getloadavg()[0], 2),
    }


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None


def cpu_seconds(pid: int, children: bool = False) -> float | None:
    """User + system CPU seconds of a process (Linux procfs), with ``children`` also
    those of its live direct children (a PostgreSQL server is its postmaster plus
    one backend per connection)."""
    fields = _stat(pid)
    if fields is None:
        return None
    ticks = int(fields[11]) + int(fields[12])
    for entry in os.scandir("/proc") if children else ():
        if entry.name.isdigit() and int(entry.name) != pid:
            child = _stat(int(entry.name))
            if child is not None and child[1] == str(pid):
                ticks += int(child[11]) + int(child[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def postmaster_pid(data_dir: Path) -> int | None:
    try:
        return int((data_dir / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, IndexError, ValueError):
        return None


def machine_busy_seconds() -> float | None:
    """CPU seconds spent not idle, summed over all cores."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU use of some processes and of the whole machine between two points."""

    def __init__(self, pids: Mapping[str, int | None], trees: frozenset[str] = frozenset()) -> None:
        self.pids = {name: pid for name, pid in pids.items() if pid}
        self.trees = trees
        self.started = time.monotonic()
        self.start = {name: cpu_seconds(pid, name in trees) for name, pid in self.pids.items()}
        self.machine = machine_busy_seconds()

    def percent(self) -> dict[str, float]:
        """% of one core per process, and ``machine`` as % of one core summed over all."""
        wall = max(time.monotonic() - self.started, 1e-6)
        out: dict[str, float] = {}
        for name, pid in self.pids.items():
            before, after = self.start.get(name), cpu_seconds(pid, name in self.trees)
            if before is not None and after is not None:
                out[name] = 100.0 * (after - before) / wall
        busy = machine_busy_seconds()
        if self.machine is not None and busy is not None:
            out["machine"] = 100.0 * (busy - self.machine) / wall
        return out


def rss_mb(pids: Iterable[int]) -> float | None:
    """Resident memory of some processes and their children, in MB (Linux procfs)."""
    wanted = set(pids)
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and int(fields[1]) in wanted:
                wanted.add(int(entry.name))
    total = 0
    found = False
    for pid in wanted:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
                found = True
    return total / 1024 if found else None
