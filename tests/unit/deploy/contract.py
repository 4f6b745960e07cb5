"""What deploy/ expects from the code: settings the manifests set that the
settings model may not have yet (the code side follows; deploy/README.md,
"Security", says the same). A name the manifests use must be a real setting or
listed here; ``test_the_code_honours_the_expected_settings`` fails for any the
code does not know."""

from __future__ import annotations

from gridhub.settings import Settings

# name -> (processes, meaning)
EXPECTED_SETTINGS: dict[str, tuple[str, str]] = {
    "GRIDHUB_KAFKA_SECURITY_PROTOCOL": (
        "worker, gateway, CLI",
        "PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL, passed to every Kafka client "
        "(Faust, aiokafka, kafka-python admin)",
    ),
    "GRIDHUB_KAFKA_SASL_MECHANISM": ("worker, gateway, CLI", "SCRAM-SHA-512"),
    "GRIDHUB_KAFKA_SASL_USERNAME": ("worker, gateway, CLI", "the process's KafkaUser"),
    "GRIDHUB_KAFKA_SASL_PASSWORD": ("worker, gateway, CLI", "its password (a secret)"),
    "GRIDHUB_KAFKA_SSL_CAFILE": (
        "worker, gateway, CLI",
        "PEM file of the CA that signed the brokers' certificates (SSL/SASL_SSL)",
    ),
    "GRIDHUB_WORKER_WEB_BIND": (
        "worker",
        "address Faust's web server binds (web_bind); 127.0.0.1 keeps /table/... in the pod",
    ),
    "GRIDHUB_WORKER_METRICS_PORT": (
        "worker",
        "port of /metrics, /healthz and /readyz, on all interfaces",
    ),
    "GRIDHUB_METRICS_PORT": ("gateway", "port of /metrics, apart from the API port"),
    "GRIDHUB_MIGRATION_DATABASE_URL": (
        "gridhub db upgrade",
        "the schema owner's URL; migrations use it instead of GRIDHUB_DATABASE_URL",
    ),
}


def setting_names() -> set[str]:
    return {f"GRIDHUB_{name.upper()}" for name in Settings.model_fields}


def known_names() -> set[str]:
    """Settings of the code, plus those the deployment expects the code to add."""
    return setting_names() | set(EXPECTED_SETTINGS)
