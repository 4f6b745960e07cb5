"""The local Apache Kafka broker (DESIGN.md §6): one KRaft node as a plain JVM process,
started, watched and stopped here.

Its jars (a per-machine Maven cache) and the text of its config files come from
:mod:`gridhub.local.kafka_setup`. Runtime state (``server.properties``, log4j2 config,
storage, ``broker.log``, pid file) lives in a data directory, ``.gridhub/kafka`` by default.

Typical use::

    with LocalKafka(data_dir=Path(".gridhub/kafka")) as broker:
        print(broker.bootstrap)

``start_on_free_ports(data_dir)`` starts one on ports nobody uses (tests, the bench);
``stop_from_pidfile(data_dir)`` stops a broker started by another process (``gridhub kafka
stop`` from a second shell).
"""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

from gridhub.local import kafka_setup
from gridhub.local.kafka_setup import (
    KafkaLocalError,
    KafkaSetupError,
    KafkaStartError,
    PortInUseError,
    which,
    write_atomic,
)
from gridhub.local.processes import (
    free_ports,
    pid_alive,
    port_is_free,
    signal_group,
    tail,
    wait_gone,
)

if TYPE_CHECKING:
    from gridhub.settings import Settings

__all__ = [
    "KafkaLocalError",
    "KafkaSetupError",
    "KafkaStartError",
    "LocalKafka",
    "PortInUseError",
    "start_on_free_ports",
    "stop_from_pidfile",
]

log = logging.getLogger(__name__)

DEFAULT_VERSION = "4.0.1"
DEFAULT_CACHE_DIR = Path.home() / ".cache" / "gridhub"
DEFAULT_DATA_DIR = Path(".gridhub") / "kafka"
DEFAULT_POM = Path(__file__).resolve().parents[2] / "deploy" / "kafka" / "pom.xml"

PID_FILE = "kafka.pid"
CONFIG_FILE = "server.properties"
LOG4J_FILE = "log4j2.properties"
CLUSTER_ID_FILE = "cluster.id"
BROKER_LOG = "broker.log"
BROKER_OUT = "broker.out"
STORAGE_DIR = "storage"

MAIN_CLASS = "kafka.Kafka"
STORAGE_TOOL_CLASS = "kafka.tools.StorageTool"

_HEAP_RE = re.compile(r"^[1-9][0-9]*[kKmMgG]?$")
_LOG_TAIL_LINES = 40
_FORMAT_TIMEOUT_S = 120.0

# As in Kafka's kafka-run-class.sh, plus exit on OOM so a wedged broker does not linger.
_JVM_FLAGS: tuple[str, ...] = (
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)


# --------------------------------------------------------------------------- helpers


def _is_broker_process(pid: int, config_path: Path) -> bool:
    """True if ``pid`` runs ``kafka.Kafka`` on ``config_path`` (guards against pid reuse)."""
    if not pid_alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return True  # no procfs: trust the pid file
    return MAIN_CLASS.encode() in cmdline and str(config_path).encode() in cmdline


def _read_pid(pid_path: Path) -> int | None:
    try:
        text = pid_path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def stop_from_pidfile(data_dir: Path | str, timeout: float = 30.0) -> bool:
    """Stop the broker whose pid file is in ``data_dir`` (started by any process).

    SIGTERM (clean, controlled shutdown), then SIGKILL after ``timeout`` seconds.
    Returns True if a running broker was stopped, False if none was running (a stale pid
    file is removed)."""
    data_dir = Path(data_dir).expanduser().resolve()
    pid_path = data_dir / PID_FILE
    pid = _read_pid(pid_path)
    if pid is None:
        return False
    if not _is_broker_process(pid, data_dir / CONFIG_FILE):
        pid_path.unlink(missing_ok=True)
        return False
    log.info("stopping Kafka broker pid %d (%s)", pid, data_dir)
    signal_group(pid, signal.SIGTERM)
    if not wait_gone(pid, timeout):
        log.warning("Kafka broker pid %d ignored SIGTERM for %.0fs; killing it", pid, timeout)
        signal_group(pid, signal.SIGKILL)
        wait_gone(pid, 10.0)
    pid_path.unlink(missing_ok=True)
    return True


# --------------------------------------------------------------------------- the broker


@dataclass
class LocalKafka:
    """One single-node KRaft Kafka broker (broker + controller roles) for development/tests."""

    data_dir: Path = DEFAULT_DATA_DIR
    port: int = 9092
    controller_port: int = 9093
    version: str = DEFAULT_VERSION
    cache_dir: Path = DEFAULT_CACHE_DIR
    heap: str = "512m"
    pom_path: Path = DEFAULT_POM
    host: str = "127.0.0.1"
    node_id: int = 1
    num_partitions: int = 4
    log_retention_hours: int = 168
    extra_properties: Mapping[str, str] = field(default_factory=dict)
    jvm_args: Sequence[str] = ()
    java: str = "java"
    mvn: str = "mvn"

    _proc: subprocess.Popen[bytes] | None = field(
        default=None, init=False, repr=False, compare=False
    )
    _out: IO[bytes] | None = field(default=None, init=False, repr=False, compare=False)
    started_in: float | None = field(default=None, init=False, compare=False)
    """Seconds the last start() took from spawn to the broker answering."""

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).expanduser().resolve()
        self.cache_dir = Path(self.cache_dir).expanduser().resolve()
        self.pom_path = Path(self.pom_path).expanduser().resolve()
        if not _HEAP_RE.match(self.heap):
            raise ValueError(f"heap must look like 512m or 1g, got {self.heap!r}")
        if self.port == self.controller_port:
            raise ValueError("port and controller_port must differ")
        for name, value in (("port", self.port), ("controller_port", self.controller_port)):
            if not 0 < value < 65536:
                raise ValueError(f"{name} out of range: {value}")
        if not re.fullmatch(r"[0-9A-Za-z.\-]+", self.version):
            raise ValueError(f"bad Kafka version {self.version!r}")

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalKafka:
        """The broker described by ``GRIDHUB_*`` settings (state under ``<home>/kafka``)."""
        return cls(
            data_dir=settings.home / "kafka",
            port=settings.kafka_port,
            controller_port=settings.kafka_controller_port,
            version=settings.kafka_version,
            cache_dir=settings.kafka_cache,
            heap=settings.kafka_heap,
            num_partitions=settings.topic_partitions,
        )

    # ---------------------------------------------------------------- paths

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def libs_dir(self) -> Path:
        return self.cache_dir / f"kafka-{self.version}" / "libs"

    @property
    def config_path(self) -> Path:
        return self.data_dir / CONFIG_FILE

    @property
    def log4j_path(self) -> Path:
        return self.data_dir / LOG4J_FILE

    @property
    def storage_dir(self) -> Path:
        return self.data_dir / STORAGE_DIR

    @property
    def cluster_id_path(self) -> Path:
        return self.data_dir / CLUSTER_ID_FILE

    @property
    def pid_path(self) -> Path:
        return self.data_dir / PID_FILE

    @property
    def log_path(self) -> Path:
        """The broker's log4j log (INFO and up)."""
        return self.data_dir / BROKER_LOG

    @property
    def out_path(self) -> Path:
        """The JVM's own stdout/stderr (crashes before logging is set up)."""
        return self.data_dir / BROKER_OUT

    @property
    def pid(self) -> int | None:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc.pid
        return _read_pid(self.pid_path)

    # ---------------------------------------------------------------- jars

    def has_jars(self) -> bool:
        return kafka_setup.has_jars(self.libs_dir, self.version)

    def ensure_jars(self) -> Path:
        """Fetch the broker jars with Maven unless the cache already has them
        (:func:`gridhub.local.kafka_setup.ensure_jars`)."""
        return kafka_setup.ensure_jars(self.libs_dir, self.version, self.pom_path, self.mvn)

    # ---------------------------------------------------------------- config

    def server_properties(self) -> dict[str, str]:
        """The broker configuration, in file order."""
        return kafka_setup.server_properties(
            node_id=self.node_id,
            host=self.host,
            port=self.port,
            controller_port=self.controller_port,
            storage_dir=self.storage_dir,
            num_partitions=self.num_partitions,
            log_retention_hours=self.log_retention_hours,
            extra=self.extra_properties,
        )

    def render_server_properties(self) -> str:
        return kafka_setup.render_properties(self.server_properties())

    def render_log4j2(self) -> str:
        """log4j2 config: the broker's INFO log to ``<data dir>/broker.log``, not the console."""
        return kafka_setup.render_log4j2(self.log_path)

    def write_config(self) -> Path:
        """Write ``server.properties`` and the log4j2 config into the data dir."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(self.config_path, self.render_server_properties())
        write_atomic(self.log4j_path, self.render_log4j2())
        return self.config_path

    # ---------------------------------------------------------------- format

    def needs_format(self) -> bool:
        """True until the storage dir has been formatted (it holds ``meta.properties``)."""
        return not (self.storage_dir / "meta.properties").is_file()

    def cluster_id(self) -> str:
        """The cluster id kept in ``<data dir>/cluster.id`` (created on first use)."""
        try:
            cid = self.cluster_id_path.read_text().strip()
        except FileNotFoundError:
            cid = ""
        if not cid:
            cid = kafka_setup.new_cluster_id()
            self.data_dir.mkdir(parents=True, exist_ok=True)
            write_atomic(self.cluster_id_path, cid + "\n")
        return cid

    def format(self) -> bool:
        """Format the KRaft storage unless already formatted. Returns True if it formatted."""
        if not self.needs_format():
            return False
        java = self._java()
        if not self.config_path.is_file():
            self.write_config()
        cmd = [
            java,
            *self._log_opts(),
            "-cp",
            self._classpath(),
            STORAGE_TOOL_CLASS,
            "format",
            "--ignore-formatted",
            "-t",
            self.cluster_id(),
            "-c",
            str(self.config_path),
        ]
        try:
            res = subprocess.run(  # noqa: S603 - fixed argument list, no shell
                cmd,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=_FORMAT_TIMEOUT_S,
                check=False,
                cwd=self.data_dir,
            )
        except subprocess.TimeoutExpired as exc:
            raise KafkaSetupError("kafka StorageTool format timed out") from exc
        if res.returncode != 0:
            output = (res.stdout + res.stderr).decode("utf-8", "replace").splitlines()
            raise KafkaSetupError(
                f"formatting {self.storage_dir} failed (exit {res.returncode}):\n"
                + "\n".join(output[-_LOG_TAIL_LINES:])
            )
        log.info("formatted Kafka storage %s (cluster %s)", self.storage_dir, self.cluster_id())
        return True

    # ---------------------------------------------------------------- run

    def is_running(self) -> bool:
        """True if this object's broker process, or the one in the pid file, is alive."""
        if self._proc is not None:
            return self._proc.poll() is None
        pid = _read_pid(self.pid_path)
        return pid is not None and _is_broker_process(pid, self.config_path)

    def command(self) -> list[str]:
        """The JVM command line that runs the broker."""
        return [
            self._java(),
            f"-Xmx{self.heap}",
            f"-Xms{self.heap}",
            *_JVM_FLAGS,
            *self.jvm_args,
            *self._log_opts(),
            "-cp",
            self._classpath(),
            MAIN_CLASS,
            str(self.config_path),
        ]

    def start(self, wait_seconds: float = 60.0) -> None:
        """Fetch jars, write config, format if needed, spawn the broker and wait until it
        answers a metadata request. No-op if this object's broker is already running."""
        if self._proc is not None and self._proc.poll() is None:
            return
        self._close_out()
        self._proc = None
        other = _read_pid(self.pid_path)
        if other is not None and _is_broker_process(other, self.config_path):
            raise KafkaStartError(
                f"a broker is already running from {self.data_dir} (pid {other}); "
                "stop it first (`gridhub kafka stop`)"
            )
        for name, port in (("port", self.port), ("controller port", self.controller_port)):
            if not port_is_free(port, self.host):
                raise PortInUseError(f"Kafka {name} {self.host}:{port} is already in use")
        self.ensure_jars()
        self.write_config()
        self.format()

        started = time.monotonic()
        cmd = self.command()
        self._out = self.out_path.open("ab")
        self._out.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} {cmd!r}\n".encode())
        self._out.flush()
        self._proc = subprocess.Popen(  # noqa: S603 - fixed argument list, no shell
            cmd,
            cwd=self.data_dir,
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: Ctrl-C in the shell reaches us only
            close_fds=True,
        )
        write_atomic(self.pid_path, f"{self._proc.pid}\n")
        log.info("Kafka broker starting: pid %d, %s", self._proc.pid, self.bootstrap)
        try:
            self._wait_ready(started + wait_seconds)
        except BaseException:
            self.stop(timeout=10.0)
            raise
        self.started_in = time.monotonic() - started
        log.info("Kafka broker ready on %s in %.1fs", self.bootstrap, self.started_in)

    def _wait_ready(self, deadline: float) -> None:
        proc = self._proc
        if proc is None:
            raise KafkaStartError("broker process not started")
        while True:
            code = proc.poll()
            if code is not None:
                raise KafkaStartError(
                    f"Kafka broker exited with code {code} during start-up\n{self._log_tails()}"
                )
            if self._answers():
                return
            if time.monotonic() >= deadline:
                raise KafkaStartError(
                    f"Kafka broker did not answer on {self.bootstrap} in time\n{self._log_tails()}"
                )
            time.sleep(0.25)

    def _answers(self) -> bool:
        """True once the broker accepts connections and lists itself in cluster metadata."""
        try:
            with socket.create_connection((self.host, self.port), timeout=1.0):
                pass
        except OSError:
            return False
        from kafka.admin import KafkaAdminClient

        try:
            admin: Any = KafkaAdminClient(
                bootstrap_servers=self.bootstrap,
                client_id="gridhub-kafka-local",
                bootstrap_timeout_ms=3000,
                request_timeout_ms=3000,
            )
        except Exception:  # any failure means "not yet"
            return False
        try:
            cluster = admin.describe_cluster()
            return any(b.get("broker_id") == self.node_id for b in cluster.get("brokers", []))
        except Exception:  # any failure means "not yet"
            return False
        finally:
            admin.close()

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM the broker, wait for its clean shutdown, SIGKILL after ``timeout``."""
        proc = self._proc
        if proc is None:
            stop_from_pidfile(self.data_dir, timeout)
            return
        if proc.poll() is None:
            log.info("stopping Kafka broker pid %d", proc.pid)
            signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("Kafka broker ignored SIGTERM for %.0fs; killing it", timeout)
                signal_group(proc.pid, signal.SIGKILL)
                proc.wait(10.0)
        if _read_pid(self.pid_path) == proc.pid:
            self.pid_path.unlink(missing_ok=True)
        self._proc = None
        self._close_out()

    def __enter__(self) -> LocalKafka:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ---------------------------------------------------------------- internals

    def _java(self) -> str:
        return which(
            self.java,
            "a Java 17+ runtime for the Kafka broker",
            "Install one (Debian: `apt-get install openjdk-17-jre-headless`).",
        )

    def _classpath(self) -> str:
        if not self.has_jars():
            raise KafkaSetupError(f"no Kafka jars in {self.libs_dir}; call ensure_jars() first")
        return f"{self.libs_dir}{os.sep}*"

    def _log_opts(self) -> list[str]:
        return [
            f"-Dlog4j2.configurationFile={self.log4j_path}",
            f"-Dkafka.logs.dir={self.data_dir}",
        ]

    def _log_tails(self) -> str:
        broker_log = tail(self.log_path, _LOG_TAIL_LINES) or "(empty)"
        parts = [f"--- last lines of {self.log_path}:\n{broker_log}"]
        out = tail(self.out_path, 15)
        if out.strip():
            parts.append(f"--- last lines of {self.out_path}:\n{out}")
        return "\n".join(parts)

    def _close_out(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None


def start_on_free_ports(
    data_dir: Path, *, attempts: int = 3, wait_seconds: float = 60.0, **options: Any
) -> LocalKafka:
    """Start a broker on two free ports, with new ones when a port was taken between
    choosing and binding it (free ports are racy); ``options`` go to :class:`LocalKafka`."""
    attempt = 1
    while True:
        port, controller_port = free_ports(2)
        broker = LocalKafka(
            data_dir=data_dir, port=port, controller_port=controller_port, **options
        )
        try:
            broker.start(wait_seconds=wait_seconds)
        except PortInUseError:
            if attempt >= attempts:
                raise
            attempt += 1
        else:
            return broker
