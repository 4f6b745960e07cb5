"""The child-process toolkit (gridhub.local.processes): ports, process groups, and
stopping a child with one SIGTERM, then SIGKILL after its grace."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from gridhub.local.processes import (
    HubProcess,
    free_ports,
    pid_alive,
    port_is_free,
    spawn,
    stop_all,
)

# Counts the SIGTERMs it gets and keeps running.
STUBBORN = """
import signal, sys, time
seen = 0
def on_term(signum, frame):
    global seen
    seen += 1
    print(f"SIGTERM {seen}", flush=True)
signal.signal(signal.SIGTERM, on_term)
print("ready", flush=True)
while True:
    time.sleep(0.02)
"""


def child(tmp_path: Path, code: str, name: str = "child") -> HubProcess:
    log_path = tmp_path / f"{name}.log"
    log = log_path.open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    return HubProcess(name, proc, log_path, log)


def wait_for_line(process: HubProcess, line: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while line not in process.log_text():
        assert process.alive(), process.log_text()
        assert time.monotonic() < deadline, f"{line!r} not in {process.log_text()!r}"
        time.sleep(0.01)


def test_free_ports_are_distinct() -> None:
    ports = free_ports(5)
    assert len(set(ports)) == 5


def test_a_listening_port_is_not_free() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = int(sock.getsockname()[1])
        assert not port_is_free(port)
    assert port_is_free(port)


def test_stop_sends_one_sigterm_and_reports_the_exit_code(tmp_path: Path) -> None:
    process = child(tmp_path, "import signal, time; time.sleep(60)")
    assert process.alive()
    assert process.stop(timeout=10) == -signal.SIGTERM
    assert process.log is not None and process.log.closed
    assert not pid_alive(process.pid)


def test_sigterm_goes_once_then_sigkill_after_the_grace(tmp_path: Path) -> None:
    process = child(tmp_path, STUBBORN)
    wait_for_line(process, "ready")
    process.terminate()
    wait_for_line(process, "SIGTERM 1")
    process.terminate()  # a second SIGTERM could cut a clean shutdown short
    assert process.stop(timeout=0.5) == -signal.SIGKILL
    assert "SIGTERM 2" not in process.log_text()


def test_stop_with_another_signal(tmp_path: Path) -> None:
    process = child(tmp_path, STUBBORN)
    wait_for_line(process, "ready")
    assert process.stop(signal.SIGKILL) == -signal.SIGKILL
    assert "SIGTERM" not in process.log_text()


def test_a_child_sharing_our_process_group_is_signalled_alone(tmp_path: Path) -> None:
    log_path = tmp_path / "plain.log"
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    assert os.getpgid(proc.pid) != proc.pid
    assert HubProcess("plain", proc, log_path).stop(timeout=10) == -signal.SIGTERM


def test_stop_all_returns_exit_codes_in_order(tmp_path: Path) -> None:
    quick = child(tmp_path, "raise SystemExit(3)", "quick")
    quick.proc.wait(10)
    sleeper = child(tmp_path, "import time; time.sleep(60)", "sleeper")
    assert stop_all([quick, sleeper], timeout=10) == [3, -signal.SIGTERM]


def test_spawn_runs_gridhub_in_its_own_session_with_a_log(tmp_path: Path) -> None:
    process = spawn("--help", os.environ, tmp_path / "logs")
    try:
        assert os.getpgid(process.pid) == process.pid
        assert process.proc.wait(60) == 0
    finally:
        process.stop(timeout=10)
    assert process.log_path.parent == tmp_path / "logs"
    assert process.log_path.name.startswith("--help-")
    assert "Usage:" in process.log_text()
