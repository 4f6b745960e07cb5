"""``gridhub gateway --processes N``: N server processes answer on one port, each
with its own app (its own producer), and one SIGTERM stops them all."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from gridhub.local.processes import pid_alive
from sinks.db import upgrade
from tests.fixtures.worker import wait_http, wait_until
from tests.support.cli import cli_token
from tests.support.gateway import report_body

pytestmark = pytest.mark.kafka


def server_children(parent: int) -> list[int]:
    """The live processes whose parent is ``parent`` and that run an app server."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
            cmdline = Path(f"/proc/{entry.name}/cmdline").read_bytes()
        except OSError:
            continue
        if stat.rpartition(")")[2].split()[1] == str(parent) and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return found


def test_two_server_processes_share_the_port(hub_env, running, tmp_path) -> None:
    db_url = f"sqlite:///{tmp_path / 'gw.db'}"
    upgrade(db_url)
    env = hub_env(db_url)
    token = cli_token(env.env, "grid_worker", "two-servers")
    gateway = env.spawn("gateway", "--processes", "2")
    running.append(gateway)
    base = f"http://127.0.0.1:{env.env['GRIDHUB_GATEWAY_PORT']}"
    wait_http(f"{base}/readyz", timeout=90)

    def two_servers() -> list[int] | None:
        children = server_children(gateway.pid)
        return children if len(children) == 2 else None

    servers = wait_until(two_servers, 30, "two server processes")

    # Every server answers reports (each connection lands on one of them).
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(8):
        with httpx.Client(base_url=base, timeout=20) as http:
            assert (
                http.post("/api/v1/reports", json=report_body(), headers=headers).status_code == 202
            )

    assert gateway.stop() == 0
    assert not any(pid_alive(pid) for pid in servers)
