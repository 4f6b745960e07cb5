"""The operators' Kafka commands (``gridhub dlq``, ``gridhub replay``, the hotspot
alerts of ``gridhub report`` and of the worker's briefs) connect with the hub's
Kafka security block, as the worker and gateway do: outside dev the broker takes
no unauthenticated client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import gridhub.dlq
import gridhub.replay
import streams.agents.brief_agent
from gridhub.cli.dlq import dlq
from gridhub.cli.replay import replay
from gridhub.cli.report import report

SASL_ENV = {
    "GRIDHUB_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
    "GRIDHUB_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    "GRIDHUB_KAFKA_SASL_USERNAME": "gridhub-ops",
    "GRIDHUB_KAFKA_SASL_PASSWORD": "an-operators-password-of-length",
}


class Refused(Exception):
    """Stands in for the broker: the test only needs the client's arguments."""


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[dict[str, Any]]:
    made: list[dict[str, Any]] = []

    def client(**kwargs: Any) -> Any:
        made.append(kwargs)
        raise Refused

    for module in (gridhub.dlq, gridhub.replay):
        monkeypatch.setattr(module, "KafkaConsumer", client)
    monkeypatch.setattr(gridhub.dlq, "KafkaProducer", client)
    for name, value in SASL_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GRIDHUB_HOME", str(tmp_path))
    return made


@pytest.mark.parametrize(
    ("command", "args"),
    [(dlq, ["list"]), (dlq, ["redrive", "--all"]), (replay, [])],
    ids=["dlq list", "dlq redrive", "replay"],
)
def test_operators_commands_authenticate_to_kafka(
    clients: list[dict[str, Any]], command: Any, args: list[str]
) -> None:
    result = CliRunner().invoke(command, args)
    assert isinstance(result.exception, Refused), result.output
    assert clients, "no Kafka client was made"
    for kwargs in clients:
        assert kwargs["security_protocol"] == "SASL_PLAINTEXT"
        assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512"
        assert kwargs["sasl_plain_username"] == "gridhub-ops"
        assert kwargs["sasl_plain_password"] == SASL_ENV["GRIDHUB_KAFKA_SASL_PASSWORD"]


def test_the_brief_reads_hotspot_alerts_authenticated(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    made: list[dict[str, Any]] = []

    def consumer(*topics: str, **kwargs: Any) -> Any:
        made.append(kwargs)
        raise Refused

    monkeypatch.setattr(streams.agents.brief_agent, "AIOKafkaConsumer", consumer)
    for name, value in SASL_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GRIDHUB_HOME", str(tmp_path))
    result = CliRunner().invoke(report, ["--date", "2026-12-01", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output  # the brief goes without the alerts
    [kwargs] = made
    assert kwargs["security_protocol"] == "SASL_PLAINTEXT"
    assert kwargs["sasl_plain_username"] == "gridhub-ops"
