"""deploy/kafka: the one-host broker's SASL/ACL set-up, offline.

``kafka_access.py`` turns Strimzi ``KafkaUser`` ACLs into Kafka ACLs for the
compose broker; the entrypoint refuses to start an open broker. Run against a
real broker by hand (deploy/README.md, "What was validated here")."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
KAFKA = REPO / "deploy" / "kafka"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kafka_access", KAFKA / "kafka_access.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["kafka_access"] = module
    spec.loader.exec_module(module)
    return module


kafka_access = _load()


def user(name: str, acls: list[dict[str, Any]], auth: str = "scram-sha-512") -> dict[str, Any]:
    return {
        "kind": "KafkaUser",
        "metadata": {"name": name},
        "spec": {
            "authentication": {"type": auth},
            "authorization": {"type": "simple", "acls": acls},
        },
    }


def test_strimzi_acls_become_one_kafka_acl_per_operation() -> None:
    doc = user(
        "gridhub-x",
        [
            {
                "resource": {"type": "topic", "name": "gridhub.", "patternType": "prefix"},
                "operations": ["Read", "Describe"],
            },
            {"resource": {"type": "group", "name": "gridhub"}, "operation": "Read"},
            {"resource": {"type": "cluster"}, "operations": ["IdempotentWrite"]},
        ],
    )
    assert kafka_access.acl_keys(doc) == {
        ("User:gridhub-x", "*", "READ", "ALLOW", "TOPIC", "gridhub.", "PREFIXED"),
        ("User:gridhub-x", "*", "DESCRIBE", "ALLOW", "TOPIC", "gridhub.", "PREFIXED"),
        ("User:gridhub-x", "*", "READ", "ALLOW", "GROUP", "gridhub", "LITERAL"),
        ("User:gridhub-x", "*", "IDEMPOTENT_WRITE", "ALLOW", "CLUSTER", "kafka-cluster", "LITERAL"),
    }


def test_the_keys_make_real_kafka_python_acls() -> None:
    key = ("User:u", "*", "WRITE", "ALLOW", "TOPIC", "gridhub.intake", "LITERAL")
    acl = kafka_access._acl(key)
    assert kafka_access._key(acl) == key


def test_only_scram_users_with_simple_authorization() -> None:
    with pytest.raises(ValueError, match="scram-sha-512"):
        kafka_access.acl_keys(user("tls-user", [], auth="tls"))
    doc = user("u", [])
    doc["spec"]["authorization"]["type"] = "opa"
    with pytest.raises(ValueError, match="simple"):
        kafka_access.acl_keys(doc)


def test_passwords_come_from_named_variables_and_must_be_long() -> None:
    env = {"GW": "g" * 24, "SHORT": "s" * 10}
    assert kafka_access.passwords(["gridhub-gateway=GW"], env) == {"gridhub-gateway": "g" * 24}
    with pytest.raises(ValueError, match="at least 24"):
        kafka_access.passwords(["gridhub-worker=SHORT"], env)
    with pytest.raises(ValueError, match="at least 24"):
        kafka_access.passwords(["gridhub-worker=MISSING"], env)
    with pytest.raises(ValueError, match="USER=ENV_VAR"):
        kafka_access.passwords(["gridhub-worker"], env)


def test_it_connects_with_the_apps_kafka_settings() -> None:
    env = {
        "GRIDHUB_KAFKA_BOOTSTRAP": "kafka:9092",
        "GRIDHUB_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "GRIDHUB_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "GRIDHUB_KAFKA_SASL_USERNAME": "admin",
        "GRIDHUB_KAFKA_SASL_PASSWORD": "pw",
    }
    config = kafka_access.client_config(env)
    assert config["security_protocol"] == "SASL_PLAINTEXT"
    assert (config["sasl_plain_username"], config["sasl_plain_password"]) == ("admin", "pw")
    assert "ssl_cafile" not in config


def _entrypoint(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    # A `java` that records its arguments instead of running: the script is
    # checked up to the broker's start.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    java = bin_dir / "java"
    java.write_text(
        '#!/bin/sh\necho "$@" >> "$JAVA_LOG"\necho 00000000-0000-0000-0000-000000000000\n'
    )
    java.chmod(0o755)
    data = tmp_path / "data"
    return subprocess.run(  # noqa: S603 - fixed arguments
        ["bash", str(KAFKA / "docker-entrypoint.sh")],
        env={
            "PATH": f"{bin_dir}:/usr/bin:/bin",
            "JAVA_LOG": str(tmp_path / "java.log"),
            "KAFKA_DATA_DIR": str(data),
            "KAFKA_LIBS": str(tmp_path / "libs"),
            "KAFKA_ADVERTISED_HOST": "kafka",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_the_broker_image_refuses_to_start_open(tmp_path: Path) -> None:
    result = _entrypoint(tmp_path)
    assert result.returncode == 64
    assert "refusing to start an open broker" in result.stderr
    assert _entrypoint(tmp_path, KAFKA_ADMIN_PASSWORD="short").returncode == 64
    assert _entrypoint(tmp_path, KAFKA_ADMIN_PASSWORD='x"' * 20).returncode == 64


def test_the_broker_image_requires_scram_and_acls(tmp_path: Path) -> None:
    password = "p" * 32
    data = tmp_path / "data"
    data.mkdir()
    (data / "admin.ready").touch()  # left by an earlier start
    result = _entrypoint(tmp_path, KAFKA_ADMIN_PASSWORD=password)
    assert result.returncode == 0, result.stderr
    props = dict(
        line.split("=", 1)
        for line in (data / "server.properties").read_text().splitlines()
        if "=" in line
    )
    assert props["listener.security.protocol.map"] == (
        "CLIENT:SASL_PLAINTEXT,LOCAL:PLAINTEXT,CONTROLLER:PLAINTEXT"
    )
    # Only the SASL listener is on the network; the plaintext ones are loopback.
    assert props["listeners"] == (
        "CLIENT://0.0.0.0:9092,LOCAL://127.0.0.1:9094,CONTROLLER://127.0.0.1:9093"
    )
    assert props["inter.broker.listener.name"] == "LOCAL"
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["authorizer.class.name"].endswith("StandardAuthorizer")
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["super.users"] == "User:admin;User:ANONYMOUS"  # anonymous: loopback only
    assert password not in (data / "server.properties").read_text()
    assert (data / "server.properties").stat().st_mode & 0o077 == 0
    # The admin's credential is set through the loopback listener after the
    # start (a background step); then admin.ready tells the health check.
    for _ in range(100):
        if (data / "admin.ready").exists():
            break
        time.sleep(0.1)
    assert (data / "admin.ready").exists()
    java = (tmp_path / "java.log").read_text()
    assert "kafka.Kafka" in java
    assert (
        "kafka.admin.ConfigCommand --bootstrap-server 127.0.0.1:9094 --alter --entity-type users"
        f" --entity-name admin --add-config SCRAM-SHA-512=[password={password}]"
    ) in java
