"""deploy/kubernetes, offline: built-in kinds are validated (strict: unknown
fields fail) against the Kubernetes JSON schemas that ``kubernetes-validate``
ships; the custom resources (Strimzi ``Kafka``/``KafkaNodePool``/``KafkaTopic``/
``KafkaUser``, the Prometheus Operator's ``PodMonitor``) have no schema there and
are checked by hand below, as is the wiring between the files and the code.
Who may talk to whom (Kafka users, NetworkPolicies, Ingress, secrets per
process) is checked in test_security.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from gridhub.settings import Settings
from schemas.topics import TopicNames
from tests.unit.deploy.contract import known_names

REPO = Path(__file__).resolve().parents[3]
K8S = REPO / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.33"
CUSTOM_GROUPS = ("kafka.strimzi.io/", "monitoring.coreos.com/")


def documents() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc:
                yield path.name, doc


ALL = list(documents())


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for _, doc in ALL if doc["kind"] == kind]


def named(kind: str, name: str) -> dict[str, Any]:
    [doc] = [d for d in of_kind(kind) if d["metadata"]["name"] == name]
    return doc


def containers() -> Iterator[tuple[str, dict[str, Any]]]:
    for kind in ("Deployment", "Job"):
        for doc in of_kind(kind):
            for container in doc["spec"]["template"]["spec"]["containers"]:
                yield doc["metadata"]["name"], container


@pytest.mark.parametrize(
    ("filename", "doc"),
    [(f, d) for f, d in ALL if not d["apiVersion"].startswith(CUSTOM_GROUPS)],
    ids=lambda v: v if isinstance(v, str) else f"{v['kind']}/{v['metadata']['name']}",
)
def test_builtin_resources_match_the_kubernetes_schema(filename: str, doc: dict[str, Any]) -> None:
    try:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        where = ".".join(str(p) for p in exc.path)
        pytest.fail(f"{filename} {doc['kind']}/{doc['metadata']['name']}: {where}: {exc.message}")


def test_the_validator_really_rejects_mistakes() -> None:
    deployment = yaml.safe_load(yaml.safe_dump(named("Deployment", "gridhub-worker")))
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_custom_resources_are_not_in_the_shipped_schemas() -> None:
    # Why the Strimzi resources are checked by hand (next tests) instead.
    custom = [d for _, d in ALL if d["apiVersion"].startswith(CUSTOM_GROUPS)]
    assert {d["kind"] for d in custom} == {
        "Kafka",
        "KafkaNodePool",
        "KafkaTopic",
        "KafkaUser",
        "PodMonitor",
    }
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        kubernetes_validate.validate(custom[0], KUBERNETES_VERSION, strict=True)


def test_kafka_is_kraft_with_three_replicas_and_two_in_sync() -> None:
    kafka = named("Kafka", "gridhub")
    assert kafka["apiVersion"] == "kafka.strimzi.io/v1beta2"
    assert kafka["metadata"]["annotations"] == {
        "strimzi.io/node-pools": "enabled",
        "strimzi.io/kraft": "enabled",
    }
    config = kafka["spec"]["kafka"]["config"]
    assert config["default.replication.factor"] == 3
    assert config["min.insync.replicas"] == 2
    assert config["offsets.topic.replication.factor"] == 3
    assert config["transaction.state.log.min.isr"] == 2
    assert kafka["spec"]["kafka"]["version"].startswith("4.")
    [pool] = of_kind("KafkaNodePool")
    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == "gridhub"
    assert pool["spec"]["replicas"] == 3
    assert set(pool["spec"]["roles"]) == {"controller", "broker"}


def test_every_topic_has_a_kafka_topic_with_the_configured_partitions() -> None:
    names = TopicNames.with_prefix("")
    topics = {t["spec"]["topicName"]: t for t in of_kind("KafkaTopic")}
    assert set(topics) == set(names.all())
    config = named("ConfigMap", "gridhub-config")["data"]
    partitions = int(config["GRIDHUB_TOPIC_PARTITIONS"])
    for name, topic in topics.items():
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "gridhub", name
        assert topic["spec"]["partitions"] == partitions, name
        assert topic["spec"]["replicas"] == int(config["GRIDHUB_TOPIC_REPLICATION"]) == 3
        assert topic["spec"]["config"]["min.insync.replicas"] == 2, name
    assert topics[names.case_events]["spec"]["config"]["retention.ms"] == -1  # replay source


def test_workers_never_outnumber_partitions() -> None:
    worker = named("Deployment", "gridhub-worker")
    partitions = int(named("ConfigMap", "gridhub-config")["data"]["GRIDHUB_TOPIC_PARTITIONS"])
    assert 1 < worker["spec"]["replicas"] <= partitions
    assert worker["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}


@pytest.mark.parametrize(
    ("deployment", "probe_port", "metrics_port"),
    [
        # The worker's probes and metrics share its metrics port: Faust's own web
        # port is bound to loopback, out of the kubelet's and Prometheus' reach.
        ("gridhub-worker", "GRIDHUB_WORKER_METRICS_PORT", "GRIDHUB_WORKER_METRICS_PORT"),
        # The gateway answers probes on the API port, /metrics on its own.
        ("gridhub-gateway", "GRIDHUB_GATEWAY_PORT", "GRIDHUB_METRICS_PORT"),
    ],
)
def test_probes_and_scraping_use_health_readiness_and_metrics(
    deployment: str, probe_port: str, metrics_port: str
) -> None:
    doc = named("Deployment", deployment)
    config = named("ConfigMap", "gridhub-config")["data"]
    probes, metrics = int(config[probe_port]), int(config[metrics_port])
    pod = doc["spec"]["template"]
    [container] = pod["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["http-metrics"] == metrics  # the PodMonitor's port name
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in ("livenessProbe", "readinessProbe"):
        assert ports[container[probe]["httpGet"]["port"]] == probes
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(metrics)
    assert annotations["prometheus.io/path"] == "/metrics"
    # The job label the alert rules select on (prometheus-kubernetes.yml, monitoring.yaml).
    assert pod["metadata"]["labels"]["app.kubernetes.io/name"] == deployment


def test_the_pod_monitor_scrapes_the_metrics_ports_only() -> None:
    [monitor] = of_kind("PodMonitor")
    assert monitor["spec"]["podMetricsEndpoints"] == [
        {"port": "http-metrics", "path": "/metrics", "interval": "15s"}
    ]


def test_the_gateway_scales_with_an_hpa_behind_a_service() -> None:
    hpa = named("HorizontalPodAutoscaler", "gridhub-gateway")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "gridhub-gateway",
    }
    assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    service = named("Service", "gridhub-gateway")
    labels = named("Deployment", "gridhub-gateway")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()


def test_secret_references_name_existing_keys() -> None:
    """Every secretKeyRef names a key of the Secret it reads: gridhub-secrets
    (secret.example.yaml), a KafkaUser's Secret (its ``password``, made by the
    User Operator) or gridhub-postgres-roles (postgres-roles.yaml's comment)."""
    secret = named("Secret", "gridhub-secrets")
    users = {u["metadata"]["name"] for u in of_kind("KafkaUser")}
    roles_keys = {"admin-url", "owner-password", "app-password"}
    for owner, container in containers():
        for env in container.get("env", []):
            ref = env.get("valueFrom", {}).get("secretKeyRef")
            if ref is None:
                continue
            if ref["name"] == "gridhub-secrets":
                assert ref["key"] in secret["stringData"], owner
            elif ref["name"] == "gridhub-postgres-roles":
                assert ref["key"] in roles_keys, owner
            else:
                assert ref["name"] in users and ref["key"] == "password", owner
    config = named("ConfigMap", "gridhub-config")["data"]
    assert not {k for k in config if "SECRET" in k or "DATABASE" in k or "PASSWORD" in k}


def test_every_gridhub_variable_is_a_setting_and_prod_loads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = named("ConfigMap", "gridhub-config")["data"]
    used = set(config)
    for _, container in containers():
        used |= {e["name"] for e in container.get("env", []) if e["name"].startswith("GRIDHUB_")}
    assert used <= known_names(), used - known_names()
    for key, value in config.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("GRIDHUB_TOKEN_SECRET", "Jq3vP0x9LrT7mW2kZ8sA5dF1gH4yU6nB")
    monkeypatch.setenv("GRIDHUB_FEEDBACK_SECRET", "Hs4kW9pQ2vN7xB3mT8rL1cZ6dF5gJ0yA")
    settings = Settings()
    assert settings.env == "prod"
    kafka = named("Kafka", "gridhub")["metadata"]["name"]
    assert settings.bootstrap.startswith(f"{kafka}-kafka-bootstrap.")


def test_kustomization_lists_existing_files_and_no_secret() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    resources = kustomization["resources"]
    for resource in resources:
        assert (K8S / resource).is_file(), resource
    # Templates, and the one-off job with the database administrator, stay out.
    for template in (
        "secret.example.yaml",
        "kafka-user-external.example.yaml",
        "postgres-roles.yaml",
    ):
        assert template not in resources
    for wanted in (
        "namespace.yaml",
        "migrate-job.yaml",
        "kafka-users.yaml",
        "networkpolicies.yaml",
        "ingress.yaml",
    ):
        assert wanted in resources
    for _, doc in ALL:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == kustomization["namespace"]
