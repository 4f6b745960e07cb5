"""deploy/prometheus and deploy/grafana against the code.

- the real ``promtool`` (Debian's ``prometheus`` package, installed by
  ``deploy/install-system-deps.sh``) checks the rules and the compose scrape
  config, and runs the alert unit tests of ``deploy/prometheus/tests``;
- every metric named by a rule expression or a dashboard query is one the code
  exports: the metric bundles are registered into a fresh registry and their
  sample names (``_total``, ``_bucket``/``_sum``/``_count``...) collected.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector

from gateway.metrics import GatewayMetrics
from gridhub.settings import Settings
from streams.metrics import StreamMetrics

REPO = Path(__file__).resolve().parents[3]
PROMETHEUS = REPO / "deploy" / "prometheus"
RULE_FILES = sorted((PROMETHEUS / "rules").glob("*.yml"))
RULE_TESTS = sorted((PROMETHEUS / "tests").glob("*.yml"))
GRAFANA = REPO / "deploy" / "grafana"
COMPOSE = REPO / "deploy" / "compose" / "compose.yaml"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
JOBS = {"gridhub-worker", "gridhub-gateway"}

# Series Prometheus makes itself for every target and alert.
SYNTHETIC = {
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_series_added",
    "ALERTS",
    "ALERTS_FOR_STATE",
}
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "info": ("_info",),
    "stateset": ("",),
}
_KEYWORDS = {
    "and",
    "or",
    "unless",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    "inf",
    "nan",
}


def exported_names() -> set[str]:
    """Every sample name the worker and the gateway can expose."""
    registry = CollectorRegistry()
    StreamMetrics.create(registry)
    GatewayMetrics.create(registry)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    names: set[str] = set()
    for family in registry.collect():
        names.update(family.name + s for s in _SUFFIXES.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers that are not functions,
    keywords, label names (in matchers, ``by``/``on`` lists) or durations."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w:.$])[A-Za-z_:][\w:]*", text):
        word = match.group(0)
        if text[match.end() :].lstrip().startswith("(") or word.lower() in _KEYWORDS:
            continue
        names.add(word)
    return names


def rules() -> Iterator[dict[str, Any]]:
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            yield from group["rules"]


def dashboard_exprs() -> Iterator[tuple[str, str]]:
    for path in DASHBOARDS:
        doc = json.loads(path.read_text(encoding="utf-8"))
        for panel in _panels(doc["panels"]):
            for target in panel.get("targets", []):
                yield panel["title"], target["expr"]


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool")
    if tool is None:
        pytest.fail("promtool is missing: run deploy/install-system-deps.sh (Debian 'prometheus')")
    return subprocess.run(  # noqa: S603 - fixed arguments
        [tool, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=120, check=False
    )


# ------------------------------------------------------------------ promtool


def test_promtool_accepts_the_alert_rules() -> None:
    result = promtool("check", "rules", *(str(p) for p in RULE_FILES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_alerts_fire_on_promtools_unit_tests() -> None:
    assert RULE_TESTS
    result = promtool("test", "rules", *(str(p) for p in RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_accepts_the_compose_scrape_config() -> None:
    result = promtool("check", "config", "--syntax-only", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


# ------------------------------------------------------------- metric names


def test_the_name_extractor_reads_promql() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le, route) (rate(x_bucket{route="/a{b}"}[5m])))'
        " / on(job) group_left(instance) y offset 1h > 1e3 and absent(up == 1) or z:rec"
    )
    assert metric_names(expr) == {"x_bucket", "y", "up", "z:rec"}


def test_every_rule_expression_names_exported_metrics() -> None:
    known = exported_names() | SYNTHETIC
    rule_list = list(rules())
    assert len(rule_list) >= 10
    for rule in rule_list:
        names = metric_names(rule["expr"])
        assert names, rule["alert"]
        assert names <= known, f"{rule['alert']}: unknown metrics {names - known}"


def test_every_alert_says_how_bad_and_what_happened() -> None:
    alerts = {rule["alert"]: rule for rule in rules()}
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in {"critical", "warning"}, name
        assert rule["annotations"]["summary"], name
    # The duty office's list.
    for wanted in (
        "GridHubWorkerDown",
        "GridHubConsumerLagGrowing",
        "GridHubDeadLetterRate",
        "GridHubOverdueCasesRising",
        "GridHubP1CaseNotDispatched",
        "GridHubDatabaseWritesFailing",
    ):
        assert wanted in alerts


def test_rules_select_the_jobs_the_scrape_configs_define() -> None:
    jobs = set()
    for rule in rules():
        jobs.update(re.findall(r'job="([^"]+)"', rule["expr"]))
    assert jobs <= JOBS
    compose = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    scraped = {c["job_name"]: c for c in compose["scrape_configs"]}
    assert set(scraped) >= JOBS
    # The metrics ports compose gives the apps, not the API or Faust's web port.
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    port = services["worker-1"]["environment"]["GRIDHUB_WORKER_METRICS_PORT"]
    workers = scraped["gridhub-worker"]["static_configs"][0]["targets"]
    assert workers == [f"worker-1:{port}", f"worker-2:{port}"]
    metrics = services["gateway"]["environment"]["GRIDHUB_METRICS_PORT"]
    assert scraped["gridhub-gateway"]["static_configs"][0]["targets"] == [f"gateway:{metrics}"]
    assert int(metrics) != Settings().gateway_port
    assert int(port) != Settings().worker_web_port


def test_kubernetes_scrape_config_takes_the_job_from_the_app_name() -> None:
    # Debian's promtool is built without Kubernetes discovery, so this file is
    # checked by structure (upstream promtool 3.x accepts it: deploy/README.md).
    doc = yaml.safe_load((PROMETHEUS / "prometheus-kubernetes.yml").read_text())
    [job] = doc["scrape_configs"]
    relabel = {tuple(r["source_labels"]): r for r in job["relabel_configs"]}
    assert relabel[("__meta_kubernetes_pod_annotation_prometheus_io_scrape",)]["action"] == "keep"
    app = relabel[("__meta_kubernetes_pod_label_app_kubernetes_io_name",)]
    assert app["target_label"] == "job"


def test_the_dashboard_only_queries_exported_metrics() -> None:
    known = exported_names() | SYNTHETIC
    queries = list(dashboard_exprs())
    assert len(queries) >= 20
    for title, expr in queries:
        names = metric_names(expr)
        assert names, title
        assert names <= known, f"panel {title!r}: unknown metrics {names - known}"


def test_the_dashboard_is_provisioned_with_its_datasource() -> None:
    source = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yml").read_text())
    [datasource] = source["datasources"]
    provider = yaml.safe_load((GRAFANA / "provisioning/dashboards/gridhub.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    for path in DASHBOARDS:
        doc = json.loads(path.read_text(encoding="utf-8"))
        assert doc["uid"] and doc["title"]
        ids = [panel["id"] for panel in _panels(doc["panels"])]
        assert len(ids) == len(set(ids)), "panel ids must be unique"
        for panel in _panels(doc["panels"]):
            if panel["type"] != "row":
                assert panel["datasource"]["uid"] == datasource["uid"], panel["title"]


def test_the_key_metrics_are_all_on_the_dashboard() -> None:
    used = set().union(*(metric_names(expr) for _, expr in dashboard_exprs()))
    for name in (
        "gridhub_events_in_total",
        "gridhub_events_dead_lettered_total",
        "gridhub_consumer_lag",
        "gridhub_cases",
        "gridhub_open_case_oldest_age_seconds",
        "gridhub_report_to_case_seconds_bucket",
        "gridhub_case_to_closure_seconds_bucket",
        "gridhub_db_write_seconds_bucket",
        "gridhub_db_write_failures_total",
        "gridhub_webhook_deliveries_total",
        "gridhub_http_requests_total",
    ):
        assert name in used, name
