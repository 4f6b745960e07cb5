"""deploy/compose without a Docker engine: what can be checked offline.

- compose.yaml validates against the Compose JSON Schema (vendored from the Go
  module compose-go v2, the one Docker Compose uses: update-compose-spec.sh);
- every build context and Dockerfile exists, and the app image's build context
  holds what ``pip install .`` needs (a wheel is built from exactly the files
  the Dockerfile copies);
- every ``GRIDHUB_*`` variable is a real setting, the prod services get the
  secrets prod requires, and those settings load.
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

REPO = Path(__file__).resolve().parents[3]
COMPOSE_DIR = REPO / "deploy" / "compose"
COMPOSE_FILE = COMPOSE_DIR / "compose.yaml"
SCHEMA = COMPOSE_DIR / "compose-spec.json"
APP_SERVICES = {"init", "worker-1", "worker-2", "gateway"}
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
    fields = {f"GRIDHUB_{name.upper()}" for name in Settings.model_fields}
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


def test_prod_services_get_the_secrets_prod_requires(compose: dict[str, Any]) -> None:
    for service in APP_SERVICES:
        env = app_environment(compose, service)
        assert env["GRIDHUB_ENV"] == "prod", service
        # Required interpolation (${VAR:?...}): compose refuses to start without it.
        assert re.fullmatch(r"\$\{GRIDHUB_TOKEN_SECRET:\?[^}]+\}", env["GRIDHUB_TOKEN_SECRET"])
        assert "${POSTGRES_PASSWORD:?" in env["GRIDHUB_DATABASE_URL"]
        assert compose["services"][service]["image"] == "gridhub:0.1.0"


def test_the_compose_settings_load_as_prod(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    values = {"POSTGRES_PASSWORD": "pw", "GRIDHUB_TOKEN_SECRET": "a-real-secret"}
    for key, value in app_environment(compose, "gateway").items():
        expanded = _INTERPOLATION.sub(lambda m: values.get(m.group(1), ""), value)
        monkeypatch.setenv(key, expanded)
    settings = Settings()
    assert settings.env == "prod"
    assert settings.db_url.startswith("postgresql://gridhub:pw@postgres:5432/")
    assert settings.bootstrap == "kafka:9092"
    monkeypatch.setenv("GRIDHUB_TOKEN_SECRET", "dev-only-insecure-secret")
    with pytest.raises(ValueError, match="GRIDHUB_TOKEN_SECRET"):
        Settings()


def test_env_example_lists_every_required_variable(compose: dict[str, Any]) -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    required = set(re.findall(r"\$\{(\w+):\?", text))
    example = (COMPOSE_DIR / ".env.example").read_text()
    listed = set(re.findall(r"^(\w+)=", example, re.M))
    assert required <= listed
    assert ".env" in (COMPOSE_DIR / ".gitignore").read_text().split()


def test_workers_and_gateway_start_after_migrations(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["init"]["command"] == ["gridhub db upgrade && gridhub topics create"]
    for name in ("worker-1", "worker-2", "gateway"):
        assert services[name]["depends_on"]["init"]["condition"] == (
            "service_completed_successfully"
        )
    port = Settings().worker_web_port
    assert f"127.0.0.1:{port}/healthz" in " ".join(services["worker-1"]["healthcheck"]["test"])


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
