"""The Kafka client the stages send their batches through directly
(streams.sending.KafkaSender, streams.delivery.kafka_producer) is the one under
Faust's producer: it authenticates with the settings' Kafka security block like
every other client of the worker. Built here without a broker: the client's
settings are the point, not a connection."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from schemas.kafka_security import KafkaSecurity
from schemas.topics import TopicNames
from streams.app import build_app
from streams.config import StreamConfig


def config(tmp_path: Path, security: KafkaSecurity) -> StreamConfig:
    return StreamConfig(
        app_id="unit-sending",
        bootstrap="127.0.0.1:1",
        topics=TopicNames.with_prefix("unit."),
        datadir=tmp_path,
        kafka=security,
    )


async def test_the_direct_senders_client_authenticates_with_sasl(tmp_path: Path) -> None:
    security = KafkaSecurity(
        protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="gridhub-worker",
        sasl_password=SecretStr("a-workers-password-of-some-length"),
    )
    app = build_app(config(tmp_path, security))
    # What the producer service makes at start and kafka_producer() hands out.
    client = app.producer._new_producer().client  # type: ignore[attr-defined]
    assert client._security_protocol == "SASL_PLAINTEXT"
    assert client._sasl_mechanism == "SCRAM-SHA-512"
    assert client._sasl_plain_username == "gridhub-worker"
    assert client._sasl_plain_password == "a-workers-password-of-some-length"


async def test_without_a_security_block_the_client_is_plaintext(tmp_path: Path) -> None:
    app = build_app(config(tmp_path, KafkaSecurity()))
    client = app.producer._new_producer().client  # type: ignore[attr-defined]
    assert client._security_protocol == "PLAINTEXT"
    assert client._sasl_plain_username is None
