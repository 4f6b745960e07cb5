"""deploy/kubernetes: nobody gets in where they do not belong (DESIGN.md §8,
Deployment), checked on the manifests, offline.

- Kafka: every listener authenticates over TLS, authorization is on, every
  KafkaUser's ACLs are exactly the listed ones, and only the gateway and the
  worker may write gridhub.case-commands; the apps use the TLS bootstrap.
- NetworkPolicies: default deny, one policy per app, Kafka and PostgreSQL from
  the apps only, metrics from Prometheus only, the API from the ingress only,
  webhooks to public addresses only.
- The Ingress routes an allow-list over TLS: no /metrics, /docs, /openapi.json.
- Secrets: each process gets only the ones it needs; the example is placeholders.
- PostgreSQL: the roles SQL gives the app role rows, not the schema.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from schemas.topics import TopicNames
from tests.unit.deploy.contract import EXPECTED_SETTINGS, setting_names

REPO = Path(__file__).resolve().parents[3]
K8S = REPO / "deploy" / "kubernetes"
APPS = ("gridhub-gateway", "gridhub-worker", "gridhub-migrate")
TOPICS = TopicNames.with_prefix("")
PRIVATE = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10"]


def load(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((K8S / name).read_text(encoding="utf-8")) if d]


ALL = [doc for path in sorted(K8S.glob("*.yaml")) for doc in load(path.name)]


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for doc in ALL if doc.get("kind") == kind]


def named(kind: str, name: str) -> dict[str, Any]:
    [doc] = [d for d in of_kind(kind) if d["metadata"]["name"] == name]
    return doc


def pod_spec(workload: str) -> dict[str, Any]:
    [doc] = [
        d for d in ALL if d["kind"] in ("Deployment", "Job") and d["metadata"]["name"] == workload
    ]
    spec: dict[str, Any] = doc["spec"]["template"]["spec"]
    return spec


def container(workload: str) -> dict[str, Any]:
    [only] = pod_spec(workload)["containers"]
    return only


def environment(workload: str) -> dict[str, Any]:
    """The container's variables: the ConfigMaps it loads, then its own env."""
    found: dict[str, Any] = {}
    for source in container(workload).get("envFrom", []):
        found.update(named("ConfigMap", source["configMapRef"]["name"])["data"])
    for env in container(workload).get("env", []):
        found[env["name"]] = env.get("value", env.get("valueFrom"))
    return found


def secret_keys(workload: str) -> set[tuple[str, str]]:
    return {
        (ref["name"], ref["key"])
        for env in container(workload).get("env", [])
        if (ref := env.get("valueFrom", {}).get("secretKeyRef"))
    }


# ------------------------------------------------------------------- Kafka


def test_every_kafka_listener_authenticates_over_tls_and_acls_are_on() -> None:
    kafka = named("Kafka", "gridhub")["spec"]["kafka"]
    assert kafka["authorization"] == {"type": "simple"}
    assert kafka["listeners"]
    for listener in kafka["listeners"]:
        assert listener["tls"] is True, listener["name"]
        assert listener["authentication"]["type"] in {"scram-sha-512", "tls"}, listener["name"]
        # Strimzi's generated NetworkPolicy admits only these pods to the listener.
        peers = {
            p["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
            for p in listener["networkPolicyPeers"]
        }
        assert peers == {"gridhub-gateway", "gridhub-worker"}, listener["name"]


@pytest.mark.parametrize("workload", ["gridhub-gateway", "gridhub-worker"])
def test_apps_use_the_tls_listener_with_their_own_kafka_user(workload: str) -> None:
    env = environment(workload)
    host, port = env["GRIDHUB_KAFKA_BOOTSTRAP"].rsplit(":", 1)
    [listener] = [
        li
        for li in named("Kafka", "gridhub")["spec"]["kafka"]["listeners"]
        if li["port"] == int(port)
    ]
    assert host == "gridhub-kafka-bootstrap.gridhub.svc"
    assert listener["tls"] and listener["authentication"]["type"] == "scram-sha-512"
    assert env["GRIDHUB_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"  # never PLAINTEXT
    assert env["GRIDHUB_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert env["GRIDHUB_KAFKA_SASL_USERNAME"] == workload
    named("KafkaUser", workload)  # exists
    assert env["GRIDHUB_KAFKA_SASL_PASSWORD"]["secretKeyRef"] == {
        "name": workload,
        "key": "password",
    }
    # The cluster CA from the Secret Strimzi keeps it in, where the setting points.
    cafile = Path(env["GRIDHUB_KAFKA_SSL_CAFILE"])
    [mount] = [
        m for m in container(workload)["volumeMounts"] if Path(m["mountPath"]) == cafile.parent
    ]
    [volume] = [v for v in pod_spec(workload)["volumes"] if v["name"] == mount["name"]]
    assert volume["secret"]["secretName"] == "gridhub-cluster-ca-cert"
    assert volume["secret"]["items"] == [{"key": "ca.crt", "path": cafile.name}]


def test_no_plaintext_kafka_anywhere_in_the_cluster() -> None:
    texts = "\n".join(p.read_text() for p in K8S.glob("*.yaml"))
    assert ":9092" not in texts
    assert "PLAINTEXT" not in texts


def acls(user: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    """(resource type, pattern, name, operation) per allowed operation."""
    found = set()
    for rule in user["spec"]["authorization"]["acls"]:
        resource = rule["resource"]
        assert rule.get("type", "allow") == "allow"
        assert rule.get("host", "*") == "*"
        for operation in rule["operations"]:
            found.add((resource["type"], resource["patternType"], resource["name"], operation))
    return found


def topic(name: str, *operations: str) -> set[tuple[str, str, str, str]]:
    return {("topic", "literal", name, op) for op in operations}


EXPECTED_ACLS = {
    "gridhub-gateway": topic(TOPICS.intake, "Write", "Describe")
    | topic(TOPICS.reports, "Write", "Describe")
    | topic(TOPICS.case_commands, "Write", "Describe")
    | topic(TOPICS.case_events, "Read", "Describe")
    | topic(TOPICS.command_results, "Read", "Describe")
    | topic(TOPICS.token_revocations, "Read", "Write", "Describe")
    | {("group", "prefix", "gridhub-gateway", "Read")},
    "gridhub-worker": {("topic", "prefix", "gridhub.", op) for op in ("Read", "Write", "Describe")}
    | {("topic", "prefix", "gridhub-", op) for op in ("Read", "Write", "Describe", "Create")}
    | {("group", "literal", "gridhub", "Read")},
    "gridhub-ext-example": topic(TOPICS.intake, "Write", "Describe")
    | topic(TOPICS.case_events, "Read", "Describe")
    | {("group", "prefix", "gridhub-ext-example", "Read")},
}


def test_every_kafka_user_has_exactly_the_listed_acls() -> None:
    users = {u["metadata"]["name"]: u for u in of_kind("KafkaUser")}
    assert set(users) == set(EXPECTED_ACLS)
    for name, user in users.items():
        assert user["metadata"]["labels"]["strimzi.io/cluster"] == "gridhub", name
        assert user["spec"]["authentication"] == {"type": "scram-sha-512"}, name
        assert user["spec"]["authorization"]["type"] == "simple", name
        assert acls(user) == EXPECTED_ACLS[name], name
    # Every literal topic in an ACL is a real topic.
    for user in users.values():
        for kind, pattern, name, _ in acls(user):
            if kind == "topic" and pattern == "literal":
                assert name in TOPICS.all()


def test_the_worker_acls_cover_its_topics_and_faust_changelogs_only() -> None:
    worker = acls(named("KafkaUser", "gridhub-worker"))
    prefixes = {
        name for kind, pattern, name, _ in worker if kind == "topic" and pattern == "prefix"
    }
    assert all(t.startswith("gridhub.") for t in TOPICS.all())
    app_id = named("ConfigMap", "gridhub-config")["data"]["GRIDHUB_APP_ID"]
    # Faust names changelogs <app_id>-<table>-changelog: the prefix is the app id's.
    assert f"{app_id}-" in prefixes
    assert ("group", "literal", app_id, "Read") in worker
    # It creates only its own Faust topics, never hub topics.
    creatable = {name for kind, _, name, op in worker if kind == "topic" and op == "Create"}
    assert creatable == {f"{app_id}-"}


def _may_write(rule: tuple[str, str, str, str], name: str) -> bool:
    kind, pattern, resource, operation = rule
    if kind != "topic" or operation not in ("Write", "All"):
        return False
    return name == resource if pattern == "literal" else name.startswith(resource)


def test_only_gateway_and_worker_may_write_case_commands() -> None:
    # The case agent trusts the role in a command (kafka-users.yaml says why).
    writers = {
        u["metadata"]["name"]
        for u in of_kind("KafkaUser")
        if any(_may_write(rule, TOPICS.case_commands) for rule in acls(u))
    }
    assert writers == {"gridhub-gateway", "gridhub-worker"}
    assert "gridhub.case-commands" in (K8S / "kafka-users.yaml").read_text()


def test_the_migration_job_has_no_kafka() -> None:
    env = environment("gridhub-migrate")
    assert not {k for k in env if "KAFKA" in k}
    assert "gridhub-migrate" not in {u["metadata"]["name"] for u in of_kind("KafkaUser")}


# ---------------------------------------------------------- NetworkPolicies


def policies() -> list[dict[str, Any]]:
    return of_kind("NetworkPolicy")


def selects(policy: dict[str, Any], labels: dict[str, str]) -> bool:
    selector = policy["spec"]["podSelector"]
    assert "matchExpressions" not in selector
    return selector.get("matchLabels", {}).items() <= labels.items()


def pod_labels(workload: str) -> dict[str, str]:
    [doc] = [
        d for d in ALL if d["kind"] in ("Deployment", "Job") and d["metadata"]["name"] == workload
    ]
    labels: dict[str, str] = doc["spec"]["template"]["metadata"]["labels"]
    return labels


def test_default_deny_ingress_for_every_pod() -> None:
    deny = named("NetworkPolicy", "default-deny-ingress")["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress"]}


@pytest.mark.parametrize("workload", APPS)
def test_every_app_has_a_policy_and_no_egress_but_what_is_allowed(workload: str) -> None:
    labels = pod_labels(workload)
    mine = [p for p in policies() if selects(p, labels)]
    assert any(p["metadata"]["name"] == workload for p in mine)
    # Egress is restricted for every GridHub pod (a policy of type Egress selects it).
    assert any("Egress" in p["spec"]["policyTypes"] for p in mine)
    assert labels["app.kubernetes.io/part-of"] == "gridhub"


def ingress_rules(workload: str) -> list[dict[str, Any]]:
    labels = pod_labels(workload)
    return [r for p in policies() if selects(p, labels) for r in p["spec"].get("ingress", [])]


def egress_rules(workload: str) -> list[dict[str, Any]]:
    labels = pod_labels(workload)
    return [r for p in policies() if selects(p, labels) for r in p["spec"].get("egress", [])]


def ports(rule: dict[str, Any]) -> set[int]:
    return {p["port"] for p in rule["ports"]}


def peer_names(rule: dict[str, Any], key: str) -> set[str]:
    return {
        peer.get("podSelector", {}).get("matchLabels", {}).get(key, "")
        for peer in rule.get("from", rule.get("to", []))
    }


def test_who_reaches_the_gateway_and_the_worker() -> None:
    gateway = ingress_rules("gridhub-gateway")
    assert {frozenset(ports(r)) for r in gateway} == {frozenset({8000}), frozenset({9100})}
    for rule in gateway:
        [peer] = rule["from"]
        namespace = peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        app = peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
        expected = (
            ("ingress-nginx", "ingress-nginx")
            if 8000 in ports(rule)
            else (
                "monitoring",
                "prometheus",
            )
        )
        assert (namespace, app) == expected
    [worker] = ingress_rules("gridhub-worker")
    assert ports(worker) == {9101}  # metrics only; never Faust's 6066
    [peer] = worker["from"]
    assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "monitoring"}
    assert ingress_rules("gridhub-migrate") == []


def test_kafka_and_postgres_from_the_apps_only() -> None:
    broker = {
        "strimzi.io/cluster": "gridhub",
        "strimzi.io/kind": "Kafka",
        "strimzi.io/broker-role": "true",
    }
    reaches_kafka = set()
    for workload in APPS:
        for rule in egress_rules(workload):
            for peer in rule.get("to", []):
                if peer.get("podSelector", {}).get("matchLabels") == broker:
                    assert ports(rule) == {9093}
                    reaches_kafka.add(workload)
    assert reaches_kafka == {"gridhub-gateway", "gridhub-worker"}
    postgres = named("NetworkPolicy", "gridhub-postgres")["spec"]
    [rule] = postgres["ingress"]
    assert ports(rule) == {5432}
    assert peer_names(rule, "app.kubernetes.io/name") == {
        "gridhub-gateway",
        "gridhub-worker",
        "gridhub-migrate",
        "gridhub-postgres-roles",
    }
    for workload in APPS:
        assert any(
            peer_names(r, "app.kubernetes.io/name") == {"gridhub-postgres"} and ports(r) == {5432}
            for r in egress_rules(workload)
        ), workload


def test_dns_is_the_only_egress_every_app_shares() -> None:
    [policy] = [p for p in policies() if p["metadata"]["name"] == "gridhub-egress-dns-only"]
    assert policy["spec"]["podSelector"] == {
        "matchLabels": {"app.kubernetes.io/part-of": "gridhub"}
    }
    [rule] = policy["spec"]["egress"]
    assert {(p["protocol"], p["port"]) for p in rule["ports"]} == {("UDP", 53), ("TCP", 53)}


def test_webhooks_go_to_public_addresses_on_443_only() -> None:
    blocks = [
        (rule, peer["ipBlock"])
        for workload in APPS
        for rule in egress_rules(workload)
        for peer in rule.get("to", [])
        if "ipBlock" in peer
    ]
    # Only the worker's webhook rule opens anything outside the cluster.
    assert blocks and all(rule in egress_rules("gridhub-worker") for rule, _ in blocks)
    assert not any(rule in egress_rules("gridhub-gateway") for rule, _ in blocks)
    for rule, block in blocks:
        assert ports(rule) == {443}
        network = ipaddress.ip_network(block["cidr"])
        if network.version == 4:
            assert block["cidr"] == "0.0.0.0/0"
            assert block["except"] == PRIVATE
        else:
            assert {"fc00::/7", "fe80::/10"} <= set(block["except"])


def test_faust_web_port_is_nowhere_reachable() -> None:
    config = named("ConfigMap", "gridhub-config")["data"]
    web = int(config["GRIDHUB_WORKER_WEB_PORT"])
    assert config["GRIDHUB_WORKER_WEB_BIND"] == "127.0.0.1"
    assert web not in {p["containerPort"] for p in container("gridhub-worker")["ports"]}
    for policy in policies():
        for rule in policy["spec"].get("ingress", []):
            assert web not in ports(rule)
    for service in of_kind("Service"):
        for port in service["spec"]["ports"]:
            assert web not in (port["port"], port.get("targetPort"))
    annotations = [
        d["spec"]["template"]["metadata"].get("annotations", {}) for d in of_kind("Deployment")
    ]
    assert str(web) not in {a.get("prometheus.io/port") for a in annotations}


def test_no_workload_mounts_a_service_account_token() -> None:
    for workload in (*APPS, "gridhub-postgres-roles"):
        assert pod_spec(workload)["automountServiceAccountToken"] is False, workload


# -------------------------------------------------------------------- Ingress

ALLOWED = ["/api", "/open311", "/m/", "/console/", "/reports/", "/static/", "/public/", "/f/"]
ALLOWED += ["/schemas/", "/healthz"]


def routed(ingress: dict[str, Any], path: str) -> bool:
    """Whether ``path`` matches a rule (Kubernetes Exact/Prefix semantics)."""
    for rule in ingress["spec"]["rules"]:
        for entry in rule["http"]["paths"]:
            if entry["pathType"] == "Exact" and path == entry["path"]:
                return True
            if entry["pathType"] == "Prefix":
                want = [p for p in entry["path"].split("/") if p]
                have = [p for p in path.split("/") if p]
                if have[: len(want)] == want:
                    return True
    return False


def test_the_ingress_routes_the_allow_list_over_tls() -> None:
    [ingress] = of_kind("Ingress")
    [rule] = ingress["spec"]["rules"]
    assert [p["path"] for p in rule["http"]["paths"]] == ALLOWED
    for entry in rule["http"]["paths"]:
        assert entry["backend"] == {
            "service": {"name": "gridhub-gateway", "port": {"name": "http"}}
        }
    assert ingress["spec"]["tls"] == [{"hosts": [rule["host"]], "secretName": "gridhub-tls"}]
    assert (
        ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/force-ssl-redirect"]
        == "true"
    )
    service = named("Service", "gridhub-gateway")
    assert [p["name"] for p in service["spec"]["ports"]] == ["http"]  # no metrics port


@pytest.mark.parametrize(
    "path", ["/metrics", "/docs", "/openapi.json", "/readyz", "/docs/oauth2-redirect", "/"]
)
def test_internals_are_not_routed(path: str) -> None:
    [ingress] = of_kind("Ingress")
    assert not routed(ingress, path)


@pytest.mark.parametrize(
    "path",
    ["/api/v1/reports", "/open311/v2/services.json", "/m/", "/m", "/static/m.js", "/healthz"],
)
def test_what_people_use_is_routed(path: str) -> None:
    [ingress] = of_kind("Ingress")
    assert routed(ingress, path)


# ------------------------------------------------------------------- Secrets


def test_each_process_gets_only_the_secrets_it_needs() -> None:
    assert secret_keys("gridhub-gateway") == {
        ("gridhub-secrets", "database-url"),
        ("gridhub-secrets", "token-secret"),
        ("gridhub-secrets", "feedback-secret"),  # checks reporters' feedback links
        ("gridhub-secrets", "webhook-secret"),
        ("gridhub-gateway", "password"),
    }
    # No token pepper: the worker verifies no token (L10).
    assert secret_keys("gridhub-worker") == {
        ("gridhub-secrets", "database-url"),
        ("gridhub-secrets", "feedback-secret"),  # signs them
        ("gridhub-secrets", "webhook-secret"),
        ("gridhub-worker", "password"),
    }
    assert secret_keys("gridhub-migrate") == {("gridhub-secrets", "migration-database-url")}
    assert environment("gridhub-migrate")["GRIDHUB_MIGRATION_DATABASE_URL"]
    assert "GRIDHUB_DATABASE_URL" not in environment("gridhub-migrate")


def test_the_example_secret_holds_placeholders_only() -> None:
    secret = named("Secret", "gridhub-secrets")["stringData"]
    assert set(secret) == {
        "database-url",
        "migration-database-url",
        "token-secret",
        "feedback-secret",
        "webhook-secret",
    }
    for key, value in secret.items():
        assert "CHANGE-ME" in value, key
    assert secret["database-url"].startswith("postgresql://gridhub_app:")
    assert secret["migration-database-url"].startswith("postgresql://gridhub_owner:")


@pytest.mark.parametrize("kind", ["Deployment", "Job"])
def test_every_container_has_cpu_and_memory_limits(kind: str) -> None:
    for doc in of_kind(kind):
        for c in doc["spec"]["template"]["spec"]["containers"]:
            limits = c["resources"]["limits"]
            assert {"cpu", "memory"} <= set(limits), doc["metadata"]["name"]


# ----------------------------------------------------------------- PostgreSQL

ROLES_SQL = REPO / "deploy" / "postgres" / "roles.sql"


def test_the_roles_job_runs_the_roles_sql() -> None:
    config = named("ConfigMap", "gridhub-postgres-roles")
    assert config["data"]["roles.sql"] == ROLES_SQL.read_text(encoding="utf-8")
    command = " ".join(container("gridhub-postgres-roles")["command"])
    assert "-f /opt/gridhub/roles.sql" in command
    assert "owner=gridhub_owner" in command and "app=gridhub_app" in command


def sql_statements() -> Iterator[str]:
    text = "\n".join(
        line for line in ROLES_SQL.read_text().splitlines() if not line.lstrip().startswith("--")
    )
    for statement in re.split(r";|\\gexec", text):
        yield " ".join(statement.split())


def test_the_app_role_gets_rows_not_the_schema() -> None:
    statements = list(sql_statements())
    assert (
        'ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public '
        'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app"'
    ) in statements
    assert (
        'ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public '
        'GRANT USAGE, SELECT ON SEQUENCES TO :"app"'
    ) in statements
    assert "REVOKE CREATE ON SCHEMA public FROM PUBLIC" in statements
    assert 'GRANT USAGE ON SCHEMA public TO :"app"' in statements
    grants_to_app = [s for s in statements if s.startswith("GRANT") and s.endswith(':"app"')]
    assert grants_to_app and not any(
        word in s for s in grants_to_app for word in ("CREATE", "ALL PRIVILEGES", "TRUNCATE")
    )
    for role in ("owner", "app"):
        [alter] = [s for s in statements if s.startswith(f'ALTER ROLE :"{role}"')]
        assert "NOSUPERUSER NOCREATEDB NOCREATEROLE" in alter


# ---------------------------------------------------------- the code's side


def test_the_code_honours_the_expected_settings() -> None:
    """Every setting the manifests set is a real setting of the code."""
    missing = sorted(set(EXPECTED_SETTINGS) - setting_names())
    assert not missing, f"deploy/ sets, the code does not know yet: {', '.join(missing)}"
