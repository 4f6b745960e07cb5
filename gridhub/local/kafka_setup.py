"""What a local Kafka broker needs before its JVM starts, and the runner's errors.

* The jars: fetched once per machine by Maven from ``deploy/kafka/pom.xml`` into a
  cache outside the repository (``~/.cache/gridhub/kafka-<version>/libs``), so the
  repository holds no binaries and a second checkout reuses them.
* The files it runs from, rendered as text: ``server.properties`` (one KRaft node,
  broker and controller), the log4j2 config (its log to a file, not the console) and
  the cluster id.

Starting, watching and stopping the broker process is :mod:`gridhub.local.kafka`.
"""

from __future__ import annotations

import base64
import fcntl
import logging
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

log = logging.getLogger(__name__)

_MVN_TIMEOUT_S = 900.0
_MVN_OUTPUT_LINES = 40


class KafkaLocalError(RuntimeError):
    """Base error of the local broker runner."""


class KafkaSetupError(KafkaLocalError):
    """A tool (``mvn``, ``java``) is missing or fetching/formatting failed."""


class KafkaStartError(KafkaLocalError):
    """The broker did not come up; the message carries the tail of its log."""


class PortInUseError(KafkaStartError):
    """A port the broker needs is already taken."""


def which(tool: str, what: str, hint: str) -> str:
    """The path of ``tool`` on PATH, or a :class:`KafkaSetupError` saying what it is for."""
    found = shutil.which(tool)
    if found is None:
        raise KafkaSetupError(f"`{tool}` ({what}) was not found on PATH. {hint}")
    return found


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file, so readers never see half."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


# --------------------------------------------------------------------------- jars


def _jar_name(version: str) -> str:
    return f"kafka_2.13-{version}.jar"


def has_jars(libs_dir: Path, version: str) -> bool:
    return (libs_dir / _jar_name(version)).is_file()


def ensure_jars(libs_dir: Path, version: str, pom_path: Path, mvn: str = "mvn") -> Path:
    """Fetch the broker jars into ``libs_dir`` with Maven unless it already has them.

    The fetch writes into a temporary directory next to the cache entry and renames it
    into place, so an interrupted fetch never leaves half a cache. A file lock keeps two
    processes from fetching at the same time."""
    if has_jars(libs_dir, version):
        return libs_dir
    mvn = which(
        mvn,
        "Apache Maven, used once to fetch the Kafka broker jars",
        f"Install it (Debian: `apt-get install maven`) or fill the jar cache {libs_dir} by hand.",
    )
    if not pom_path.is_file():
        raise KafkaSetupError(f"broker pom not found: {pom_path}")
    parent = libs_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    with (parent.parent / f"{parent.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if has_jars(libs_dir, version):  # fetched by another process meanwhile
            return libs_dir
        tmp = Path(tempfile.mkdtemp(prefix="libs.tmp-", dir=parent))
        try:
            _fetch_into(mvn, pom_path, version, tmp)
            if libs_dir.exists():  # a broken earlier cache without the kafka jar
                shutil.rmtree(libs_dir)
            tmp.rename(libs_dir)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    log.info("Kafka %s jars fetched into %s", version, libs_dir)
    return libs_dir


def _fetch_into(mvn: str, pom_path: Path, version: str, out_dir: Path) -> None:
    cmd = [
        mvn,
        "-B",
        "-q",
        "-f",
        str(pom_path),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={out_dir}",
        "-DincludeScope=runtime",
        f"-Dkafka.version={version}",
    ]
    log.info("fetching Kafka %s jars with Maven (once per machine)", version)
    started = time.monotonic()
    try:
        res = subprocess.run(  # noqa: S603 - fixed argument list, no shell
            cmd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=_MVN_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise KafkaSetupError(f"Maven did not finish within {_MVN_TIMEOUT_S:.0f}s") from exc
    if res.returncode != 0:
        output = (res.stdout + res.stderr).decode("utf-8", "replace").splitlines()
        raise KafkaSetupError(
            f"Maven failed to fetch the Kafka {version} jars (exit {res.returncode}):\n"
            + "\n".join(output[-_MVN_OUTPUT_LINES:])
        )
    if not (out_dir / _jar_name(version)).is_file():
        raise KafkaSetupError(f"Maven finished but {_jar_name(version)} is not in {out_dir}")
    log.info("Maven fetched the jars in %.1fs", time.monotonic() - started)


# --------------------------------------------------------------------------- config files


def server_properties(
    *,
    node_id: int,
    host: str,
    port: int,
    controller_port: int,
    storage_dir: Path,
    num_partitions: int,
    log_retention_hours: int,
    extra: Mapping[str, str],
) -> dict[str, str]:
    """The configuration of one KRaft node (broker + controller), in file order;
    ``extra`` overrides or adds keys."""
    props: dict[str, str] = {
        "process.roles": "broker,controller",
        "node.id": str(node_id),
        "controller.quorum.voters": f"{node_id}@{host}:{controller_port}",
        "listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{host}:{port}",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": storage_dir.as_posix(),
        # Dev convenience; GridHub itself creates its topics explicitly (gridhub/topics.py).
        "auto.create.topics.enable": "true",
        "delete.topic.enable": "true",
        "num.partitions": str(num_partitions),
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "4",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "4",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        # A restarted single-node cluster refuses the broker's new registration until the
        # previous incarnation's session expires (DUPLICATE_BROKER_REGISTRATION): a short
        # session keeps restarts on the same data dir quick (default 9 s / 2 s).
        "broker.session.timeout.ms": "4000",
        "broker.heartbeat.interval.ms": "1000",
        "log.retention.hours": str(log_retention_hours),
        "log.segment.bytes": str(256 * 1024 * 1024),
        "log.retention.check.interval.ms": str(5 * 60 * 1000),
    }
    props.update(extra)
    return props


def render_properties(props: Mapping[str, str]) -> str:
    lines = ["# Generated by gridhub.local.kafka - edits are overwritten on start."]
    lines += [f"{key}={value}" for key, value in props.items()]
    return "\n".join(lines) + "\n"


def render_log4j2(log_path: Path) -> str:
    """log4j2 config: the broker's INFO log to ``log_path``, not the console."""
    log_file = log_path.as_posix()
    return "\n".join(
        [
            "# Generated by gridhub.local.kafka",
            "status = warn",
            "name = gridhub-kafka",
            # Kafka's own shutdown hook logs the controlled shutdown; log4j's hook would
            # close the file first. Lines are flushed as written (immediateFlush).
            "shutdownHook = disable",
            "appender.broker.type = RollingFile",
            "appender.broker.name = BrokerLog",
            f"appender.broker.fileName = {log_file}",
            f"appender.broker.filePattern = {log_file}.%i",
            "appender.broker.layout.type = PatternLayout",
            "appender.broker.layout.pattern = [%d] %p %m (%c)%n",
            "appender.broker.policies.type = Policies",
            "appender.broker.policies.size.type = SizeBasedTriggeringPolicy",
            "appender.broker.policies.size.size = 20MB",
            "appender.broker.strategy.type = DefaultRolloverStrategy",
            "appender.broker.strategy.max = 3",
            "rootLogger.level = info",
            "rootLogger.appenderRef.broker.ref = BrokerLog",
            "logger.request.name = kafka.request.logger",
            "logger.request.level = warn",
            "",
        ]
    )


def new_cluster_id() -> str:
    """A Kafka cluster id: a random UUID in URL-safe base64 without padding (22 chars).

    Like Kafka's ``Uuid.randomUuid()``, ids starting with ``-`` are avoided (they read as
    command-line options)."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode("ascii")
        if not cid.startswith("-"):
            return cid
