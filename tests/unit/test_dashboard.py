"""The Grafana dashboard, the Prometheus config and the Compose file agree with what the code exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY
from prometheus_client.metrics import MetricWrapperBase

from laneyard.services.cli.main import app as cli
from laneyard.shared.metrics import admission, dispatch, runner, states

COMPOSE = Path(__file__).resolve().parents[2] / "compose"
DASHBOARD = COMPOSE / "grafana" / "dashboards" / "laneyard.json"
# Families from RabbitMQ's own exporter (rabbitmq_prometheus), which the broker panel reads.
EXTERNAL = {"rabbitmq_queue_messages_ready", "rabbitmq_queue_messages_unacked"}
PROMQL_WORDS = {"and", "or", "unless", "bool", "offset", "on", "ignoring", "group_left", "group_right"}


def exported() -> dict[str, set[str]]:
    """Every series name the code can export (read from the registry the services serve) -> the
    label names it carries."""
    label_names = {
        metric._name: set(metric._labelnames)
        for module in (admission, dispatch, runner, states)
        for metric in vars(module).values()
        if isinstance(metric, MetricWrapperBase)
    }
    names: dict[str, set[str]] = {}
    for family in REGISTRY.collect():
        if not family.name.startswith("laneyard_"):
            continue
        labels = label_names[family.name]
        suffixes = {
            "counter": ["_total"],
            "histogram": ["_bucket", "_sum", "_count"],
            "gauge": [""],
        }[family.type]
        for suffix in suffixes:
            names[family.name + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
    return names


def metric_names(expr: str) -> set[str]:
    """The series a PromQL expression reads: identifiers that are not functions, keywords, label
    names or values (a small scanner, enough for the dashboard's expressions)."""
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)  # strings (label values)
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", text)  # grouping labels
    text = re.sub(r"\[[^\]]*\]", "", text)  # range windows
    found = {
        m.group()
        for m in re.finditer(r"(?<![A-Za-z0-9_.])[A-Za-z_:][A-Za-z0-9_:]*", text)
        if not text[m.end() :].lstrip().startswith("(")  # a function
    }
    return found - PROMQL_WORDS


def grouping(expr: str) -> set[str]:
    return {
        label.strip()
        for group in re.findall(r"\bby\s*\(([^)]*)\)", expr)
        for label in group.split(",")
        if label.strip()
    }


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for panel in dashboard["panels"]:
        out.extend(panel.get("panels", []))
        if panel.get("type") != "row":
            out.append(panel)
    return out


def test_the_scanner_finds_series_and_skips_the_rest() -> None:
    expr = 'histogram_quantile(0.95, sum by (le, task) (rate(a_bucket{x=~"$y"}[5m]))) / b offset 5m'
    assert metric_names(expr) == {"a_bucket", "b"}


def test_every_metric_the_dashboard_queries_is_exported_with_the_labels_it_uses() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    names = exported()
    assert len(names) > 30
    seen: set[str] = set()
    assert len(panels(dashboard)) >= 15
    for variable in dashboard["templating"]["list"]:
        metric, label = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", variable["definition"]).groups()
        assert label in names[metric], variable
    for expr in (t["expr"] for p in panels(dashboard) for t in p["targets"]):
        read = metric_names(expr)
        assert read, expr
        for name in read:
            assert name in names or name in EXTERNAL, f"{name} (in {expr!r}) is not exported"
            seen.add(name)
            if name in names:
                # Every label the query groups by must exist on the series it reads.
                missing = grouping(expr) - names[name] - {"le"}
                assert not missing, f"{expr!r} groups {name} by {missing}, which it does not carry"
    # The dashboard covers throughput, backlog, capacity, failures and latency.
    for needed in (
        "laneyard_jobs_admitted_total",
        "laneyard_lane_queued_jobs",
        "laneyard_lane_oldest_job_age_seconds",
        "laneyard_cluster_reserved_cpu_cores",
        "laneyard_tasks_failed_total",
        "laneyard_dispatch_latency_seconds_bucket",
    ):
        assert needed in seen


def test_panels_have_unique_ids_titles_and_room_on_the_grid() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in panels(dashboard):
        assert panel["title"] and panel["targets"]
        grid = panel["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24
        assert panel["datasource"]["uid"] == "prometheus"
    datasources = yaml.safe_load((COMPOSE / "grafana/provisioning/datasources/prometheus.yml").read_text())
    assert [d["uid"] for d in datasources["datasources"]] == ["prometheus"]
    providers = yaml.safe_load((COMPOSE / "grafana/provisioning/dashboards/laneyard.yml").read_text())
    assert providers["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((COMPOSE / "docker-compose.yml").read_text())
    return loaded


def test_prometheus_scrapes_every_service_where_it_serves_metrics() -> None:
    config = yaml.safe_load((COMPOSE / "prometheus/prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert len(jobs) == len(config["scrape_configs"])
    services = compose()["services"]
    for role in ("dispatcher", "runner"):
        port = services[role]["environment"]["LANEYARD_METRICS_PORT"]
        job = jobs[role]
        targets = [t for s in job.get("static_configs", []) for t in s["targets"]]
        targets += [f"{n}:{d['port']}" for d in job.get("dns_sd_configs", []) for n in d["names"]]
        assert targets == [f"{role}:{port}"]
    assert jobs["admission"]["static_configs"][0]["targets"] == [
        f"admission:{services['admission']['environment']['LANEYARD_HTTP_PORT']}"
    ]
    assert jobs["rabbitmq"]["static_configs"][0]["targets"] == ["rabbitmq:15692"]
    plugins = (COMPOSE / "rabbitmq/enabled_plugins").read_text()
    assert "rabbitmq_prometheus" in plugins and "rabbitmq_management" in plugins


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_accepts_the_prometheus_config() -> None:
    done = subprocess.run(
        ["promtool", "check", "config", str(COMPOSE / "prometheus/prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_runs_each_role_with_a_command_the_cli_has() -> None:
    services = compose()["services"]
    assert {"rabbitmq", "mongo", "admission", "dispatcher", "runner", "demo", "prometheus", "grafana"} <= set(
        services
    )
    commands = {c.name or (c.callback.__name__ if c.callback else "") for c in cli.registered_commands}
    for role in ("admission", "dispatcher", "runner", "demo"):
        argv = services[role]["command"]
        assert argv[0] in commands, argv
        assert services[role]["build"]["dockerfile"] == "compose/Dockerfile"
    assert services["demo"]["command"][1:3] == ["--url", "http://admission:8080"]
    assert services["mongo"]["image"] == "mongo:7"
    assert "management" in services["rabbitmq"]["image"]
    grafana_mounts = " ".join(services["grafana"]["volumes"])
    assert "./grafana/provisioning:/etc/grafana/provisioning" in grafana_mounts
