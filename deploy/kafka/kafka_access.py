"""Give the one-host broker (deploy/compose) the users and ACLs of the cluster.

What Strimzi's User Operator does from ``deploy/kubernetes/kafka-users.yaml``,
done here with kafka-python's admin client for the single broker of
``deploy/kafka`` (SASL/SCRAM-SHA-512, StandardAuthorizer): for every
``KafkaUser`` of the file that is given a password, upsert its SCRAM-SHA-512
credential and make its ACLs exactly the listed ones (missing ones created,
others of that user deleted). Users without a password are left alone.

    python kafka_access.py kafka-users.yaml \\
        --password gridhub-gateway=KAFKA_GATEWAY_PASSWORD \\
        --password gridhub-worker=KAFKA_WORKER_PASSWORD

``--password USER=VAR`` names the environment variable holding USER's password.
It connects as the broker's admin with the same settings as the app
(``GRIDHUB_KAFKA_BOOTSTRAP``, ``GRIDHUB_KAFKA_SECURITY_PROTOCOL``,
``GRIDHUB_KAFKA_SASL_MECHANISM``, ``GRIDHUB_KAFKA_SASL_USERNAME``,
``GRIDHUB_KAFKA_SASL_PASSWORD``, ``GRIDHUB_KAFKA_SSL_CAFILE``). Runs in the app
image (Python, kafka-python and PyYAML are there); safe to run on every start.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

MIN_PASSWORD_LENGTH = 24

# Strimzi's names -> Kafka's (AclRule in kafka.strimzi.io/v1beta2).
_RESOURCE_TYPES = {
    "topic": "TOPIC",
    "group": "GROUP",
    "cluster": "CLUSTER",
    "transactionalId": "TRANSACTIONAL_ID",
}
_PATTERN_TYPES = {"literal": "LITERAL", "prefix": "PREFIXED"}
_OPERATIONS = {
    "Read": "READ",
    "Write": "WRITE",
    "Create": "CREATE",
    "Delete": "DELETE",
    "Alter": "ALTER",
    "Describe": "DESCRIBE",
    "ClusterAction": "CLUSTER_ACTION",
    "AlterConfigs": "ALTER_CONFIGS",
    "DescribeConfigs": "DESCRIBE_CONFIGS",
    "IdempotentWrite": "IDEMPOTENT_WRITE",
    "All": "ALL",
}

# (principal, host, operation, permission, resource type, name, pattern type)
AclKey = tuple[str, str, str, str, str, str, str]


def kafka_users(path: Path) -> dict[str, dict[str, Any]]:
    """The ``KafkaUser`` documents of a manifest, by name."""
    users = {}
    for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
        if doc and doc.get("kind") == "KafkaUser":
            users[doc["metadata"]["name"]] = doc
    return users


def acl_keys(user: Mapping[str, Any]) -> set[AclKey]:
    """The Kafka ACLs a Strimzi ``KafkaUser`` stands for (one per operation)."""
    name = user["metadata"]["name"]
    spec = user["spec"]
    if spec["authentication"]["type"] != "scram-sha-512":
        raise ValueError(f"{name}: only scram-sha-512 users can be set up here")
    authorization = spec.get("authorization") or {}
    if authorization.get("type") != "simple":
        raise ValueError(f"{name}: authorization must be simple")
    keys = set()
    for rule in authorization.get("acls", []):
        resource = rule["resource"]
        kind = _RESOURCE_TYPES[resource["type"]]
        pattern = _PATTERN_TYPES[resource.get("patternType", "literal")]
        resource_name = "kafka-cluster" if kind == "CLUSTER" else resource["name"]
        permission = {"allow": "ALLOW", "deny": "DENY"}[rule.get("type", "allow")]
        operations = rule.get("operations") or [rule["operation"]]
        for operation in operations:
            keys.add(
                (
                    f"User:{name}",
                    rule.get("host", "*"),
                    _OPERATIONS[operation],
                    permission,
                    kind,
                    resource_name,
                    pattern,
                )
            )
    return keys


def _acl(key: AclKey) -> Any:
    from kafka.admin import (
        ACL,
        ACLOperation,
        ACLPermissionType,
        ACLResourcePatternType,
        ResourcePattern,
        ResourceType,
    )

    principal, host, operation, permission, kind, name, pattern = key
    return ACL(
        principal=principal,
        host=host,
        operation=ACLOperation[operation],
        permission_type=ACLPermissionType[permission],
        resource_pattern=ResourcePattern(ResourceType[kind], name, ACLResourcePatternType[pattern]),
    )


def _key(acl: Any) -> AclKey:
    pattern = acl.resource_pattern
    return (
        acl.principal,
        acl.host,
        acl.operation.name,
        acl.permission_type.name,
        pattern.resource_type.name,
        pattern.resource_name,
        pattern.pattern_type.name,
    )


def client_config(env: Mapping[str, str]) -> dict[str, Any]:
    """kafka-python settings from the app's ``GRIDHUB_KAFKA_*`` variables."""
    config: dict[str, Any] = {
        "bootstrap_servers": env["GRIDHUB_KAFKA_BOOTSTRAP"],
        "client_id": "gridhub-kafka-access",
        "security_protocol": env.get("GRIDHUB_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT"),
    }
    if config["security_protocol"].startswith("SASL_"):
        config["sasl_mechanism"] = env.get("GRIDHUB_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
        config["sasl_plain_username"] = env["GRIDHUB_KAFKA_SASL_USERNAME"]
        config["sasl_plain_password"] = env["GRIDHUB_KAFKA_SASL_PASSWORD"]
    if env.get("GRIDHUB_KAFKA_SSL_CAFILE"):
        config["ssl_cafile"] = env["GRIDHUB_KAFKA_SSL_CAFILE"]
    return config


def passwords(pairs: Iterable[str], env: Mapping[str, str]) -> dict[str, str]:
    """``USER=VAR`` pairs -> {user: the password in VAR}; refuses short or missing ones."""
    found = {}
    for pair in pairs:
        user, _, var = pair.partition("=")
        value = env.get(var, "")
        if not user or not var:
            raise ValueError(f"--password {pair!r}: expected USER=ENV_VAR")
        if len(value) < MIN_PASSWORD_LENGTH:
            raise ValueError(f"{var} (password of {user}): at least {MIN_PASSWORD_LENGTH} chars")
        found[user] = value
    return found


def apply(admin: Any, users: Mapping[str, Mapping[str, Any]], secret: Mapping[str, str]) -> None:
    """Upsert the SCRAM credentials and make each user's ACLs exactly its listed ones."""
    from kafka.admin import (
        ACLFilter,
        ACLOperation,
        ACLPermissionType,
        ACLResourcePatternType,
        ResourcePatternFilter,
        ResourceType,
        UserScramCredentialUpsertion,
    )

    unknown = set(secret) - set(users)
    if unknown:
        raise ValueError(f"no KafkaUser named {sorted(unknown)}")
    results = admin.alter_user_scram_credentials(
        [UserScramCredentialUpsertion(name, "SCRAM-SHA-512", secret[name]) for name in secret]
    )
    failed = {user: error for user, error in results.items() if error}
    if failed:
        raise RuntimeError(f"SCRAM credentials not set: {failed}")
    for name in secret:
        wanted = acl_keys(users[name])
        principal = f"User:{name}"
        any_resource = ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY)
        everything = ACLFilter(
            principal, None, ACLOperation.ANY, ACLPermissionType.ANY, any_resource
        )
        acls, error = admin.describe_acls(everything)
        if error.errno:
            raise RuntimeError(f"describing the ACLs of {name}: {error}")
        present = {_key(acl) for acl in acls}
        stale = present - wanted
        if stale:
            admin.delete_acls([_acl(key) for key in sorted(stale)])
        missing = wanted - present
        if missing:
            result = admin.create_acls([_acl(key) for key in sorted(missing)])
            if result["failed"]:
                raise RuntimeError(f"ACLs of {name} not created: {result['failed']}")
        print(
            f"{name}: SCRAM-SHA-512 set, {len(wanted)} ACLs ({len(missing)} added, "
            f"{len(stale)} removed)"
        )


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("users", type=Path, help="a manifest with KafkaUser documents")
    parser.add_argument("--password", action="append", default=[], metavar="USER=ENV_VAR")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, env: Mapping[str, str] = os.environ) -> int:
    from kafka.admin import KafkaAdminClient

    args = _args(argv)
    users = kafka_users(args.users)
    secret = passwords(args.password, env)
    admin = KafkaAdminClient(**client_config(env))
    try:
        apply(admin, users, secret)
    finally:
        admin.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
