"""deploy/compose without a Docker engine: what can be checked offline.

- compose.yaml validates against the Compose JSON Schema (vendored from the Go
  module compose-go v2, the one Docker Compose uses: update-compose-spec.sh);
- every build context and Dockerfile exists, and the app image's build context
  holds what ``pip install .`` needs (a wheel is built from exactly the files
  the Dockerfile copies);
- every ``GRIDHUB_*`` variable is a real setting (or one the deployment expects
  the code to add: contract.py), each prod service gets the secrets it needs and
  no other, and those settings load;
- nothing is published beyond the host's loopback, every service has resource
  limits, Kafka and PostgreSQL sit on an internal network, Kafka needs SCRAM
  logins (the users and ACLs are those of deploy/kubernetes/kafka-users.yaml) and
  no app connects to PostgreSQL as the superuser or the schema owner.
Not checked here: pulling images, building them, starting containers.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from gridhub.settings import Settings
from tests.unit.deploy.contract import known_names

REPO = Path(__file__).resolve().parents[3]
COMPOSE_DIR = REPO / "deploy" / "compose"
COMPOSE_FILE = COMPOSE_DIR / "compose.yaml"
SCHEMA = COMPOSE_DIR / "compose-spec.json"
APP_SERVICES = {"init", "worker-1", "worker-2", "gateway"}
LONG_RUNNING = {"worker-1", "worker-2", "gateway"}
_INTERPOLATION = re.compile(r"\$\{(\w+)(?::?[-?][^}]*)?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)  # type: ignore[no-any-return]


def test_compose_file_matches_the_compose_schema(compose: dict[str, Any]) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator().iter_errors(compose)]
    assert errors == []


def test_the_schema_check_catches_mistakes(compose: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(compose))
    broken["services"]["gateway"]["depends_on"]["init"]["condition"] = "when_ready"
    broken["services"]["worker-1"]["healthcheck"]["intervall"] = "5s"
    messages = " ".join(_messages(validator().iter_errors(broken)))
    assert "'when_ready' is not one of" in messages
    assert "'intervall'" in messages


def test_every_build_context_and_dockerfile_exists(compose: dict[str, Any]) -> None:
    builds = {name: s["build"] for name, s in compose["services"].items() if "build" in s}
    assert {"kafka", "gateway", "worker-1"} <= set(builds)
    for name, build in builds.items():
        context = (COMPOSE_DIR / build["context"]).resolve()
        assert context.is_dir(), name
        dockerfile = context / build.get("dockerfile", "Dockerfile")
        assert dockerfile.is_file(), f"{name}: {dockerfile}"
        for source in copy_sources(dockerfile.read_text()):
            assert (context / source).exists(), f"{name}: COPY {source}"


def test_mounted_config_files_exist(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (COMPOSE_DIR / source).exists(), f"{name}: {source}"


def app_environment(compose: dict[str, Any], service: str) -> dict[str, str]:
    env = compose["services"][service].get("environment", {})
    assert isinstance(env, dict), "use the mapping form, so keys can be checked"
    return {str(k): str(v) for k, v in env.items()}


def test_every_gridhub_variable_is_a_real_setting(compose: dict[str, Any]) -> None:
    fields = known_names()
    used = set()
    for name, service in compose["services"].items():
        for key in service.get("environment", {}) or {}:
            if str(key).startswith("GRIDHUB_"):
                used.add(str(key))
                assert key in fields, f"{name}: {key} is not a setting"
    dockerfile = (COMPOSE_DIR / "Dockerfile").read_text()
    for key in re.findall(r"\b(GRIDHUB_\w+)=", dockerfile):
        assert key in fields, f"Dockerfile: {key}"
    assert "GRIDHUB_DATABASE_URL" in used


def required(value: str, variable: str) -> bool:
    """``${VARIABLE:?...}`` in ``value``: compose refuses to start without it."""
    return re.search(r"\$\{" + variable + r":\?[^}]+\}", value) is not None


def test_prod_services_get_the_secrets_they_need_and_no_others(compose: dict[str, Any]) -> None:
    secrets = {
        "GRIDHUB_TOKEN_SECRET",
        "GRIDHUB_FEEDBACK_SECRET",
        "GRIDHUB_WEBHOOK_SECRET",
        "GRIDHUB_DATABASE_URL",
        "GRIDHUB_MIGRATION_DATABASE_URL",
        "GRIDHUB_KAFKA_SASL_PASSWORD",
    }
    needs = {
        # Token pepper for the gateway only (L10); webhook key for gateway and workers;
        # the feedback-link key for both (workers sign, the gateway checks).
        "gateway": {
            "GRIDHUB_TOKEN_SECRET",
            "GRIDHUB_FEEDBACK_SECRET",
            "GRIDHUB_WEBHOOK_SECRET",
            "GRIDHUB_DATABASE_URL",
            "GRIDHUB_KAFKA_SASL_PASSWORD",
        },
        "worker-1": {
            "GRIDHUB_FEEDBACK_SECRET",
            "GRIDHUB_WEBHOOK_SECRET",
            "GRIDHUB_DATABASE_URL",
            "GRIDHUB_KAFKA_SASL_PASSWORD",
        },
        "init": {"GRIDHUB_MIGRATION_DATABASE_URL", "GRIDHUB_KAFKA_SASL_PASSWORD"},
    }
    needs["worker-2"] = needs["worker-1"]
    for service in APP_SERVICES:
        env = app_environment(compose, service)
        assert env["GRIDHUB_ENV"] == "prod", service
        assert secrets & set(env) == needs[service], service
        for name in needs[service] - {"GRIDHUB_DATABASE_URL", "GRIDHUB_MIGRATION_DATABASE_URL"}:
            assert env[name].startswith("${") and required(env[name], env[name][2:].split(":")[0])
        assert compose["services"][service]["image"] == "gridhub:0.1.0"


def test_apps_use_the_app_role_and_only_init_the_owner(compose: dict[str, Any]) -> None:
    postgres = compose["services"]["postgres"]["environment"]
    superuser = postgres["POSTGRES_USER"]
    assert superuser not in {"gridhub", "gridhub_app", "gridhub_owner"}
    for service in LONG_RUNNING:
        url = app_environment(compose, service)["GRIDHUB_DATABASE_URL"]
        assert url.startswith("postgresql://gridhub_app:") and required(url, "DB_APP_PASSWORD")
    url = app_environment(compose, "init")["GRIDHUB_MIGRATION_DATABASE_URL"]
    assert url.startswith("postgresql://gridhub_owner:") and required(url, "DB_OWNER_PASSWORD")
    for service in compose["services"].values():
        for value in (service.get("environment") or {}).values():
            assert (
                "POSTGRES_PASSWORD" not in str(value) or service is compose["services"]["postgres"]
            )
    # The roles come from the same SQL as in Kubernetes, on the first start.
    mounts = {v.split(":")[1]: v.split(":")[0] for v in compose["services"]["postgres"]["volumes"]}
    assert mounts["/docker-entrypoint-initdb.d"] == "../postgres/initdb"
    assert mounts["/opt/gridhub/roles.sql"] == "../postgres/roles.sql"
    script = (COMPOSE_DIR / "../postgres/initdb/10-gridhub-roles.sh").read_text()
    assert "-f /opt/gridhub/roles.sql" in script
    assert "owner=gridhub_owner" in script and "app=gridhub_app" in script
    for variable in ("DB_OWNER_PASSWORD", "DB_APP_PASSWORD"):
        assert variable in script and required(postgres[variable], variable)


def test_kafka_needs_scram_logins_with_a_user_per_component(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]["environment"]
    assert required(kafka["KAFKA_ADMIN_PASSWORD"], "KAFKA_ADMIN_PASSWORD")
    assert "KAFKA_ALLOW_PLAINTEXT" not in kafka
    users = {
        "gateway": "gridhub-gateway",
        "worker-1": "gridhub-worker",
        "worker-2": "gridhub-worker",
        "init": "admin",
    }
    for service, user in users.items():
        env = app_environment(compose, service)
        assert env["GRIDHUB_KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT", service
        assert env["GRIDHUB_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512", service
        assert env["GRIDHUB_KAFKA_SASL_USERNAME"] == user, service
    # init gives the component users their passwords and the ACLs of the cluster.
    init = compose["services"]["init"]
    command = " ".join(init["command"])
    mounts = {v.split(":")[1]: v.split(":")[0] for v in init["volumes"]}
    assert mounts["/opt/gridhub/kafka-users.yaml"] == "../kubernetes/kafka-users.yaml"
    assert mounts["/opt/gridhub/kafka_access.py"] == "../kafka/kafka_access.py"
    env = app_environment(compose, "init")
    for user, service in (("gridhub-gateway", "gateway"), ("gridhub-worker", "worker-1")):
        variable = re.search(rf"--password {user}=(\w+)", command)
        assert variable, user
        password = app_environment(compose, service)["GRIDHUB_KAFKA_SASL_PASSWORD"]
        assert required(env[variable.group(1)], variable.group(1))
        assert required(password, variable.group(1))  # the same .env value


def test_the_compose_settings_load_as_prod(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    values = {
        "DB_APP_PASSWORD": "pw",
        "GRIDHUB_TOKEN_SECRET": "Jq3vP0x9LrT7mW2kZ8sA5dF1gH4yU6nB",
        "GRIDHUB_WEBHOOK_SECRET": "Vb8nM2qL5tR9wX3zK7pD1fG6hJ4sA0cE",
        "GRIDHUB_FEEDBACK_SECRET": "Hs4kW9pQ2vN7xB3mT8rL1cZ6dF5gJ0yA",
        "KAFKA_GATEWAY_PASSWORD": "Wq5vR8mK2zT9xL4pN7cB1dF6gH3jS0aE",
    }
    for key, value in app_environment(compose, "gateway").items():
        expanded = _INTERPOLATION.sub(lambda m: values.get(m.group(1), ""), value)
        monkeypatch.setenv(key, expanded)
    settings = Settings()
    assert settings.env == "prod"
    assert settings.db_url.startswith("postgresql://gridhub_app:pw@postgres:5432/")
    assert settings.bootstrap == "kafka:9092"
    monkeypatch.setenv("GRIDHUB_TOKEN_SECRET", "dev-only-insecure-secret")
    with pytest.raises(ValueError, match="GRIDHUB_TOKEN_SECRET"):
        Settings()


def test_nothing_is_published_beyond_loopback(compose: dict[str, Any]) -> None:
    published = {}
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert isinstance(port, str) and port.startswith("127.0.0.1:"), f"{name}: {port}"
            published[name] = port
    assert set(published) == {"gateway", "prometheus", "grafana"}


def test_every_service_has_cpu_and_memory_limits(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        limits = service["deploy"]["resources"]["limits"]
        assert {"cpus", "memory"} <= set(limits), name


def test_kafka_and_postgres_are_on_the_internal_network_only(compose: dict[str, Any]) -> None:
    assert compose["networks"]["backend"]["internal"] is True
    services = compose["services"]
    for name in ("kafka", "postgres"):
        assert services[name]["networks"] == ["backend"], name
    on_backend = {name for name, s in services.items() if "backend" in s.get("networks", [])}
    assert on_backend == {"kafka", "postgres", "init", "worker-1", "worker-2", "gateway"}


def test_app_containers_drop_privileges(compose: dict[str, Any]) -> None:
    for name in APP_SERVICES:
        service = compose["services"][name]
        assert service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name


def test_env_example_lists_every_required_variable(compose: dict[str, Any]) -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    required = set(re.findall(r"\$\{(\w+):\?", text))
    example = (COMPOSE_DIR / ".env.example").read_text()
    listed = set(re.findall(r"^(\w+)=", example, re.M))
    assert required <= listed
    assert ".env" in (COMPOSE_DIR / ".gitignore").read_text().split()


def test_workers_and_gateway_start_after_migrations(compose: dict[str, Any]) -> None:
    services = compose["services"]
    [command] = services["init"]["command"]
    assert command.index("kafka_access.py") < command.index("gridhub db upgrade")
    assert command.endswith("&& gridhub db upgrade && gridhub topics create")
    for name in ("worker-1", "worker-2", "gateway"):
        assert services[name]["depends_on"]["init"]["condition"] == (
            "service_completed_successfully"
        )
    # The health check reaches the metrics port from inside the container.
    port = app_environment(compose, "worker-1")["GRIDHUB_WORKER_METRICS_PORT"]
    assert f"127.0.0.1:{port}/healthz" in " ".join(services["worker-1"]["healthcheck"]["test"])
    assert app_environment(compose, "worker-1")["GRIDHUB_WORKER_WEB_BIND"] == "127.0.0.1"


def test_the_app_image_context_holds_the_whole_package(tmp_path: Path) -> None:
    """``pip install .`` in the image sees only what the Dockerfile copies: run
    setuptools' ``build_py`` (what goes into the wheel) on exactly those files."""
    dockerfile = (COMPOSE_DIR / "Dockerfile").read_text()
    context = tmp_path / "context"
    context.mkdir()
    for source in copy_sources(dockerfile):
        path = REPO / source.rstrip("/")
        if path.is_dir():
            shutil.copytree(path, context / source.rstrip("/"), ignore=_ignored)
        else:
            shutil.copy2(path, context / source)
    built = tmp_path / "built"
    subprocess.run(  # noqa: S603 - fixed arguments
        [sys.executable, "-c", "from setuptools import setup; setup()", "-q", "build_py"]
        + ["-d", str(built)],
        cwd=context,
        check=True,
        timeout=300,
        capture_output=True,
    )
    names = {p.relative_to(built).as_posix() for p in built.rglob("*") if p.is_file()}
    for wanted in (
        "gridhub/cli/__init__.py",
        "gridhub/logging.py",
        "gridhub/simulate/corpus.yaml",
        "streams/metrics.py",
        "gateway/metrics.py",
        "sinks/migrations/env.py",
    ):
        assert wanted in names
    assert any(n.startswith("routing/data/") and n.endswith(".yaml") for n in names)
    assert any(n.startswith("sinks/migrations/versions/") for n in names)


def _messages(errors: Any) -> Iterator[str]:
    """Every message, including those inside ``oneOf`` / ``anyOf`` branches."""
    for error in errors:
        yield error.message
        yield from _messages(error.context or [])


def copy_sources(dockerfile: str) -> list[str]:
    """Sources of the Dockerfile's ``COPY`` lines from the build context."""
    sources = []
    for line in re.findall(r"^COPY (.+)$", dockerfile, re.M):
        words = [w for w in line.split() if not w.startswith("--")]
        if "--from=" not in line:
            sources += words[:-1]
    return sources


def _ignored(directory: str, names: list[str]) -> set[str]:
    return {n for n in names if n == "__pycache__" or n.endswith(".pyc")}
