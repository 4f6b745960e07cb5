"""Child processes and ports: the one toolkit that the local broker and database,
``gridhub up``, ``gridhub bench``, the test fixtures and the fault harness share.

* Ports: :func:`free_port`, :func:`free_ports` (several at once, all distinct) and
  :func:`port_is_free`. A port found free can be taken by someone else before it is
  used; callers that start servers retry.
* Process groups: a child started with its own session leads its own process group,
  so Ctrl-C in the terminal reaches only the parent, which then stops the child on
  purpose. :func:`signal_group` signals that group (or the bare pid of a child that
  leads none); :func:`pid_alive` and :func:`wait_gone` see a process through its exit.
* Hub processes: :func:`spawn` starts ``python -m gridhub <verb>`` with its output in
  a log file; :class:`HubProcess` stops it with one SIGTERM (a second could cut its
  shutdown short), then SIGKILL after a grace; :func:`stop_all` stops several at once.
* Signals in the parent: :func:`sigterm_as_interrupt` turns SIGTERM into
  ``KeyboardInterrupt`` so clean-up code runs; :func:`wait_for_signal` blocks until
  SIGINT/SIGTERM or until the children die.

Only the standard library is imported here.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any

STOP_SECONDS = 30.0
LOG_TAIL_LINES = 60

# --------------------------------------------------------------------------- ports


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now on ``host`` (racy by nature)."""
    return free_ports(1, host)[0]


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct free TCP ports (all sockets are held until every port is chosen)."""
    with contextlib.ExitStack() as stack:
        ports: list[int] = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((host, 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def free_port_block(count: int, host: str = "0.0.0.0", avoid: Sequence[int] = ()) -> int:  # noqa: S104 - probing, not serving
    """The first of ``count`` consecutive ports that are free right now and not in
    ``avoid``: for a parent whose children serve on ``port + i`` (``gridhub worker
    --processes N``). A kernel-chosen port's neighbour is often some client's
    ephemeral port; this checks them all (racy by nature, like :func:`free_port`)."""
    for _ in range(200):
        base = free_port(host)
        block = range(base, base + count)
        free = block[-1] <= 65535 and not set(block) & set(avoid)
        if free and all(port_is_free(port, host) for port in block[1:]):
            return base
    raise RuntimeError(f"no {count} consecutive free ports found on {host}")


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True if nothing listens on ``host:port`` and it can be bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


# --------------------------------------------------------------------------- pids


def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie whose threads have all ended counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers signal 0; on Linux read its state. The state of a process is
    # that of its main thread, which can be Z while other threads (a JVM shutting down) still
    # run: only a Z process with no other thread left is really gone.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rpartition(")")[2].split()[:1] != ["Z"]:
            return True
        return len(os.listdir(f"/proc/{pid}/task")) > 1
    except OSError:
        return True


def wait_gone(pid: int, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for ``pid`` to end; True if it did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.1)
    return not pid_alive(pid)


def signal_group(pid: int, sig: signal.Signals) -> None:
    """Signal the process group ``pid`` leads (its own session), else just ``pid``."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a text file ('' if it does not exist)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 256 * 1024))
            data = fh.read()
    except OSError:
        return ""
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])


# --------------------------------------------------------------------------- hub processes


@dataclass
class HubProcess:
    """A child process (usually ``gridhub <verb>`` from :func:`spawn`) and its log.

    ``log`` is the parent's handle on the log file, closed by :meth:`stop`."""

    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    log: IO[bytes] | None = None
    spawned_at: float = field(default_factory=time.monotonic)
    terminated: bool = False

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return tail(self.log_path, lines)

    def terminate(self) -> None:
        """SIGTERM its process group, once (a second one could cut its shutdown short)."""
        if self.proc.poll() is None and not self.terminated:
            self.terminated = True
            signal_group(self.proc.pid, signal.SIGTERM)

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = STOP_SECONDS) -> int:
        """Send ``sig`` (SIGTERM at most once), wait ``timeout`` seconds for the exit,
        SIGKILL after that; close the log. Returns the exit code."""
        if self.proc.poll() is None:
            if sig == signal.SIGTERM:
                self.terminate()
            else:
                signal_group(self.proc.pid, sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                signal_group(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.log is not None:
            self.log.close()
        return int(self.proc.returncode)


def spawn(
    verb: str,
    env: Mapping[str, str],
    log_dir: Path,
    *,
    args: Sequence[str] = (),
    log_name: str | None = None,
) -> HubProcess:
    """Start ``python -m gridhub <verb> <args>`` (this interpreter) in its own session,
    its output appended to ``log_dir/log_name`` (default: ``<verb>-<6 hex digits>.log``)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / (log_name or f"{verb}-{uuid.uuid4().hex[:6]}.log")
    log = log_path.open("ab")
    try:
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and entry point
            [sys.executable, "-m", "gridhub", verb, *args],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env),
            start_new_session=True,
        )
    except BaseException:
        log.close()
        raise
    return HubProcess(verb, proc, log_path, log)


def stop_all(processes: Sequence[HubProcess], timeout: float = STOP_SECONDS) -> list[int]:
    """SIGTERM every live process at once, then wait for each (SIGKILL after
    ``timeout``); their exit codes, in order."""
    for process in processes:
        process.terminate()
    return [process.stop(timeout=timeout) for process in processes]


# --------------------------------------------------------------------------- signals


def install_sigterm_as_interrupt() -> Callable[[], None]:
    """SIGTERM (and SIGINT) unwind as KeyboardInterrupt, so the clean-up runs;
    returns the restorer. Outside the main thread it changes nothing."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.signal(signal.SIGTERM, interrupt)
    # Ctrl-C too, even when started with SIGINT ignored (a background job).
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)

    return restore


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """:func:`install_sigterm_as_interrupt` for the ``with`` block."""
    restore = install_sigterm_as_interrupt()
    try:
        yield
    finally:
        restore()


def wait_for_signal(alive: Callable[[], bool]) -> bool:
    """Block until SIGINT/SIGTERM (True) or until ``alive()`` turns false (False)."""
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(0.5):
            if not alive():
                return False
        return True
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
