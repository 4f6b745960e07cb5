"""M9, L7, L8 — the code side of a locked-down deployment: every Kafka client
authenticates with the settings' SASL/TLS block, the worker's Faust web server
keeps its table views to itself, metrics are off the API port, migrations run
as the schema owner, /docs is dev only, and unsafe settings refuse to start."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from gridhub import bootstrap
from gridhub.local.processes import free_port
from gridhub.settings import Settings
from streams.app import build_app
from streams.observability import MetricsServer, consumed_topics
from streams.topics import stage_topics
from tests.support.security import Attacked

SCRAM = {
    "GRIDHUB_ENV": "prod",
    "GRIDHUB_KAFKA_BOOTSTRAP": "kafka.example:9093",
    "GRIDHUB_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "GRIDHUB_KAFKA_SASL_USERNAME": "gridhub-worker",
    "GRIDHUB_KAFKA_SASL_PASSWORD": "Wq5vR8mK2zT9xL4pN7cB1dF6gH3jS0aE",
    "GRIDHUB_TOKEN_SECRET": "Jq3vP0x9LrT7mW2kZ8sA5dF1gH4yU6nB",
    "GRIDHUB_WEBHOOK_SECRET": "Vb8nM2qL5tR9wX3zK7pD1fG6hJ4sA0cE",
    "GRIDHUB_FEEDBACK_SECRET": "Hs4kW9pQ2vN7xB3mT8rL1cZ6dF5gJ0yA",
}


@pytest.fixture
def prod(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    for name, value in SCRAM.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GRIDHUB_HOME", str(tmp_path))
    return Settings()


def test_m9_every_kafka_client_gets_the_sasl_block(prod: Settings) -> None:
    prod.require("worker")
    prod.require("gateway")
    security = prod.kafka_security
    aiokafka = security.aiokafka()
    assert aiokafka["security_protocol"] == "SASL_SSL"
    assert aiokafka["sasl_mechanism"] == "SCRAM-SHA-512"
    assert aiokafka["sasl_plain_username"] == "gridhub-worker"
    assert aiokafka["ssl_context"] is not None
    admin = security.kafka_python()
    assert admin["security_protocol"] == "SASL_SSL" and admin["ssl_check_hostname"] is True
    assert admin["sasl_plain_password"] == SCRAM["GRIDHUB_KAFKA_SASL_PASSWORD"]
    app = build_app(bootstrap.stream_config(prod))
    credentials = app.conf.broker_credentials
    assert credentials.username == "gridhub-worker"
    assert credentials.protocol.value == "SASL_SSL"
    assert credentials.mechanism.value == "SCRAM-SHA-512"


def test_m9_the_worker_web_server_keeps_its_tables_to_itself(prod: Settings) -> None:
    app = build_app(bootstrap.stream_config(prod))
    assert app.conf.web_bind == "127.0.0.1"
    assert app.conf.web_tables_enabled is False
    assert app.conf.web_router_enabled is False


def test_m9_the_worker_web_server_can_be_off(
    prod: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRIDHUB_WORKER_WEB_BIND", "off")
    app = build_app(bootstrap.stream_config(Settings()))
    assert app.conf.web_enabled is False


async def test_m9_worker_health_and_metrics_are_on_their_own_port(prod: Settings) -> None:
    config = bootstrap.stream_config(prod)
    app = build_app(config)
    names = consumed_topics(stage_topics(app, config))
    port = free_port()
    server = MetricsServer(app, names, None, host="127.0.0.1", port=port)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            assert (await http.get("/healthz")).status_code == 200
            assert (await http.get("/readyz")).status_code == 503  # no partitions here
            assert (await http.get("/table/cases/")).status_code == 404
    finally:
        await server.stop()
    assert config.metrics_port == 9101 and config.web_port != config.metrics_port


def test_m9_migrations_run_as_the_owner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    owner = tmp_path / "owner.db"
    monkeypatch.setenv("GRIDHUB_HOME", str(tmp_path))
    monkeypatch.setenv("GRIDHUB_DATABASE_URL", f"sqlite:///{tmp_path / 'app.db'}")
    monkeypatch.setenv("GRIDHUB_MIGRATION_DATABASE_URL", f"sqlite:///{owner}")
    bootstrap.migrate(Settings())
    assert owner.is_file() and not (tmp_path / "app.db").exists()


def test_l7_metrics_and_docs_are_not_on_the_api_port(hub: Attacked, client: TestClient) -> None:
    assert client.get("/metrics").status_code == 404
    assert client.get("/docs").status_code == 404  # docs=False: outside dev
    assert client.get("/openapi.json").status_code == 200


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"GRIDHUB_TOKEN_SECRET": "CHANGE-ME"}, "placeholder"),
        ({"GRIDHUB_TOKEN_SECRET": "dev-only-insecure-secret"}, "TOKEN_SECRET"),
        ({"GRIDHUB_TOKEN_SECRET": "k7Qz" * 3}, "shorter"),
        ({"GRIDHUB_WEBHOOK_SECRET": ""}, "WEBHOOK_SECRET is empty"),
        ({"GRIDHUB_FEEDBACK_SECRET": "CHANGE-ME"}, "placeholder"),
        ({"GRIDHUB_FEEDBACK_SECRET": "dev-only-insecure-secret"}, "FEEDBACK_SECRET"),
        ({"GRIDHUB_FEEDBACK_SECRET": "k7Qz" * 3}, "FEEDBACK_SECRET is shorter"),
        ({"GRIDHUB_KAFKA_SASL_PASSWORD": "example-password-0000000000000000"}, "placeholder"),
    ],
)
def test_l8_placeholder_secrets_refuse_to_start(
    prod: Settings, monkeypatch: pytest.MonkeyPatch, changes: dict[str, str], needle: str
) -> None:
    for name, value in changes.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=needle):
        Settings()


def test_l8_what_each_process_needs_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDHUB_ENV", "prod")
    for name in (
        "GRIDHUB_TOKEN_SECRET",
        "GRIDHUB_WEBHOOK_SECRET",
        "GRIDHUB_FEEDBACK_SECRET",
        "GRIDHUB_KAFKA_BOOTSTRAP",
    ):
        monkeypatch.delenv(name, raising=False)
    bare = Settings()  # the migration job: nothing of this needed
    with pytest.raises(ValueError, match="TOKEN_SECRET") as gateway:
        bare.require("gateway")
    assert "WEBHOOK_SECRET" in str(gateway.value) and "Kafka" in str(gateway.value)
    assert "FEEDBACK_SECRET" in str(gateway.value)  # the gateway checks feedback links
    with pytest.raises(ValueError, match="WEBHOOK_SECRET") as worker:
        bare.require("worker")
    assert "FEEDBACK_SECRET" in str(worker.value)  # the worker signs them
    assert "TOKEN_SECRET" not in str(worker.value)  # and verifies no token
    with pytest.raises(ValueError) as tokens:
        bare.require("tokens")
    assert "FEEDBACK_SECRET" not in str(tokens.value)  # the token commands sign no link
    monkeypatch.setenv("GRIDHUB_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    with pytest.raises(ValueError, match="username and password"):
        Settings().require("worker")


def test_l8_env_must_be_said_in_a_container(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRIDHUB_ENV", raising=False)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    with pytest.raises(ValueError, match="GRIDHUB_ENV must be set"):
        Settings()
    monkeypatch.setenv("GRIDHUB_ENV", "dev")
    assert Settings().env == "dev"
    monkeypatch.setenv("GRIDHUB_ENV", "production")
    with pytest.raises(ValueError):
        Settings()  # env is dev or prod, nothing else
