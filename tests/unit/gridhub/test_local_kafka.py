"""LocalKafka without a JVM: generated config, the format decision, the jar fetch."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from gridhub.local.kafka import LocalKafka, stop_from_pidfile
from gridhub.local.kafka_setup import KafkaSetupError, new_cluster_id

VERSION = "4.0.1"


def read_properties(path: Path) -> dict[str, str]:
    props = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            props[key] = value
    return props


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    """A jar cache that already holds the broker jars."""
    libs = tmp_path / "cache" / f"kafka-{VERSION}" / "libs"
    libs.mkdir(parents=True)
    (libs / f"kafka_2.13-{VERSION}.jar").write_bytes(b"jar")
    return tmp_path / "cache"


@pytest.fixture
def broker(tmp_path: Path, cache: Path) -> LocalKafka:
    return LocalKafka(
        data_dir=tmp_path / "data", port=29092, controller_port=29093, cache_dir=cache
    )


@pytest.fixture
def empty_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No mvn, no java on PATH."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


# ------------------------------------------------------------------- config


def test_server_properties(broker: LocalKafka) -> None:
    path = broker.write_config()
    assert path == broker.data_dir / "server.properties"
    props = read_properties(path)
    assert props["process.roles"] == "broker,controller"
    assert props["node.id"] == "1"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:29093"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:29092,CONTROLLER://127.0.0.1:29093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:29092"
    assert props["controller.listener.names"] == "CONTROLLER"
    assert props["inter.broker.listener.name"] == "PLAINTEXT"
    assert props["log.dirs"] == str(broker.data_dir / "storage")
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert props["num.partitions"] == "4"
    assert props["auto.create.topics.enable"] == "true"
    assert props["offsets.topic.num.partitions"] == "4"
    for key in (
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "default.replication.factor",
        "min.insync.replicas",
    ):
        assert props[key] == "1", key
    assert int(props["log.retention.hours"]) > 0
    assert broker.bootstrap == "127.0.0.1:29092"


def test_extra_properties_override(tmp_path: Path, cache: Path) -> None:
    broker = LocalKafka(
        data_dir=tmp_path / "d",
        port=1234,
        controller_port=1235,
        cache_dir=cache,
        num_partitions=8,
        extra_properties={"log.retention.hours": "1", "message.max.bytes": "2000000"},
    )
    props = read_properties(broker.write_config())
    assert props["num.partitions"] == "8"
    assert props["log.retention.hours"] == "1"
    assert props["message.max.bytes"] == "2000000"


def test_log4j_config_writes_broker_log_not_console(broker: LocalKafka) -> None:
    broker.write_config()
    text = broker.log4j_path.read_text()
    assert f"fileName = {broker.data_dir / 'broker.log'}" in text
    assert "Console" not in text
    cmd = broker.command()
    assert f"-Dlog4j2.configurationFile={broker.log4j_path}" in cmd


def test_command_line(broker: LocalKafka) -> None:
    broker.heap = "768m"
    cmd = broker.command()
    assert "-Xmx768m" in cmd and "-Xms768m" in cmd
    assert cmd[-2:] == ["kafka.Kafka", str(broker.config_path)]
    assert cmd[cmd.index("-cp") + 1] == f"{broker.libs_dir}/*"


def test_relative_data_dir_is_resolved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    broker = LocalKafka()
    assert broker.data_dir == tmp_path / ".gridhub" / "kafka"
    assert broker.pom_path == Path(__file__).resolve().parents[3] / "deploy/kafka/pom.xml"
    assert broker.pom_path.is_file()
    assert broker.libs_dir == Path.home() / ".cache/gridhub/kafka-4.0.1/libs"


@pytest.mark.parametrize(
    "kwargs",
    [{"heap": "lots"}, {"port": 9093, "controller_port": 9093}, {"port": 70000}],
)
def test_bad_parameters(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        LocalKafka(**kwargs)


def test_cluster_id_shape() -> None:
    cid = new_cluster_id()
    assert len(cid) == 22 and not cid.startswith("-")
    assert len(base64.urlsafe_b64decode(cid + "==")) == 16


# ------------------------------------------------------------------- format


class FakeRun:
    """Stands in for subprocess.run; "formats" by writing meta.properties."""

    def __init__(self, broker: LocalKafka) -> None:
        self.broker = broker
        self.calls: list[list[str]] = []

    def __call__(self, cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        self.calls.append(cmd)
        self.broker.storage_dir.mkdir(parents=True, exist_ok=True)
        cid = cmd[cmd.index("-t") + 1]
        (self.broker.storage_dir / "meta.properties").write_text(f"cluster.id={cid}\n")
        return subprocess.CompletedProcess(cmd, 0, b"", b"")


def test_format_only_once(broker: LocalKafka, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeRun(broker)
    monkeypatch.setattr(subprocess, "run", fake)
    monkeypatch.setattr(shutil, "which", lambda tool: f"/usr/bin/{tool}")
    assert broker.needs_format()
    assert broker.format() is True
    assert not broker.needs_format()
    assert broker.format() is False
    assert len(fake.calls) == 1
    cmd = fake.calls[0]
    assert "kafka.tools.StorageTool" in cmd and "format" in cmd
    assert cmd[cmd.index("-t") + 1] == broker.cluster_id()
    assert cmd[cmd.index("-c") + 1] == str(broker.config_path)
    assert broker.config_path.is_file()  # written for the format if missing


def test_interrupted_format_reuses_cluster_id(
    broker: LocalKafka, monkeypatch: pytest.MonkeyPatch
) -> None:
    cid = broker.cluster_id()  # kept from an earlier, interrupted attempt
    assert broker.cluster_id_path.read_text().strip() == cid
    fake = FakeRun(broker)
    monkeypatch.setattr(subprocess, "run", fake)
    monkeypatch.setattr(shutil, "which", lambda tool: f"/usr/bin/{tool}")
    assert broker.format() is True
    assert fake.calls[0][fake.calls[0].index("-t") + 1] == cid


def test_format_failure_is_reported(broker: LocalKafka, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        return subprocess.CompletedProcess(cmd, 1, b"", b"boom: bad config\n")

    monkeypatch.setattr(subprocess, "run", failing)
    monkeypatch.setattr(shutil, "which", lambda tool: f"/usr/bin/{tool}")
    with pytest.raises(KafkaSetupError, match="boom: bad config"):
        broker.format()
    assert broker.needs_format()


def test_java_missing(broker: LocalKafka, empty_path: None) -> None:
    with pytest.raises(KafkaSetupError, match="`java`"):
        broker.format()


# ------------------------------------------------------------------- jars


def test_mvn_missing_is_a_clear_error(tmp_path: Path, empty_path: None) -> None:
    broker = LocalKafka(data_dir=tmp_path / "d", cache_dir=tmp_path / "no-cache")
    with pytest.raises(KafkaSetupError, match=r"`mvn` \(Apache Maven") as info:
        broker.ensure_jars()
    assert "apt-get install maven" in str(info.value)
    assert not broker.libs_dir.exists()


def test_mvn_missing_via_which(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda tool: None)
    broker = LocalKafka(data_dir=tmp_path / "d", cache_dir=tmp_path / "no-cache")
    with pytest.raises(KafkaSetupError, match="mvn"):
        broker.ensure_jars()


def test_cached_jars_need_no_mvn(broker: LocalKafka, empty_path: None) -> None:
    assert broker.has_jars()
    assert broker.ensure_jars() == broker.libs_dir


FAKE_MVN = """#!/bin/sh
# fake mvn: records its arguments, writes jars into -DoutputDirectory, exit code from env
for arg in "$@"; do
  echo "$arg" >> "$FAKE_MVN_LOG"
  case "$arg" in -DoutputDirectory=*) out="${arg#-DoutputDirectory=}" ;; esac
done
echo partial > "$out/scala-library-2.13.15.jar"
if [ "$FAKE_MVN_FAIL" = 1 ]; then echo "[ERROR] could not resolve dependencies"; exit 1; fi
echo jar > "$out/kafka_2.13-4.0.1.jar"
"""


@pytest.fixture
def fake_mvn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    mvn = bin_dir / "mvn"
    mvn.write_text(FAKE_MVN)
    mvn.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    log = tmp_path / "mvn.log"
    monkeypatch.setenv("FAKE_MVN_LOG", str(log))
    return log


def test_fetch_renames_into_place(tmp_path: Path, fake_mvn: Path) -> None:
    broker = LocalKafka(data_dir=tmp_path / "d", cache_dir=tmp_path / "c")
    assert broker.ensure_jars() == broker.libs_dir
    assert broker.has_jars()
    args = fake_mvn.read_text().splitlines()
    assert "dependency:copy-dependencies" in args
    assert "-DincludeScope=runtime" in args
    assert "-Dkafka.version=4.0.1" in args
    assert str(broker.pom_path) in args
    assert sorted(p.name for p in broker.libs_dir.parent.iterdir()) == ["libs"]
    # second call: cached, mvn not run again
    fake_mvn.unlink()
    broker.ensure_jars()
    assert not fake_mvn.exists()


def test_failed_fetch_leaves_no_cache(
    tmp_path: Path, fake_mvn: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_MVN_FAIL", "1")
    broker = LocalKafka(data_dir=tmp_path / "d", cache_dir=tmp_path / "c")
    with pytest.raises(KafkaSetupError, match="could not resolve dependencies"):
        broker.ensure_jars()
    assert list(broker.libs_dir.parent.iterdir()) == []  # no libs, no temp dir


def test_broken_cache_is_replaced(tmp_path: Path, fake_mvn: Path) -> None:
    broker = LocalKafka(data_dir=tmp_path / "d", cache_dir=tmp_path / "c")
    broker.libs_dir.mkdir(parents=True)
    (broker.libs_dir / "stale.jar").write_text("x")
    broker.ensure_jars()
    assert broker.has_jars() and not (broker.libs_dir / "stale.jar").exists()


# ------------------------------------------------------------------- pid file


def test_stop_from_pidfile_without_broker(tmp_path: Path) -> None:
    assert stop_from_pidfile(tmp_path) is False
    (tmp_path / "kafka.pid").write_text("999999999\n")
    assert stop_from_pidfile(tmp_path) is False
    assert not (tmp_path / "kafka.pid").exists()


def test_stop_from_pidfile_ignores_unrelated_process(tmp_path: Path) -> None:
    """A reused pid must not be killed: here the pid file points at this test process."""
    (tmp_path / "kafka.pid").write_text(f"{os.getpid()}\n")
    assert stop_from_pidfile(tmp_path, timeout=1) is False
    broker = LocalKafka(data_dir=tmp_path)
    assert not broker.is_running()
