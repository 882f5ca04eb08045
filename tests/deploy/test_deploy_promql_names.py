"""Metric names used by the rules and dashboards exist in the worker's metric list."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from tests.deploy.deploy_tools import GRAFANA_DIR, PROMETHEUS_DIR
from tests.deploy.promql_names import (
    WORKER_SAMPLE_NAMES,
    exposed_metric_names,
    exposed_sample_names,
    grafana_to_promql,
    is_recorded_name,
    metric_names,
    template_query_expr,
    unknown_worker_names,
)
from tests.deploy.render import load_yaml, write_yaml


def rule_entries() -> list[dict]:
    """Return every rule of the shipped rule files."""
    return [
        rule
        for path in sorted((PROMETHEUS_DIR / "rules").glob("*.yml"))
        for group in load_yaml(path)["groups"]
        for rule in group["rules"]
    ]


def dashboard_exprs() -> list[tuple[str, str]]:
    """Return (where, PromQL) for every panel target, variable and annotation of every dashboard."""
    found = []

    def walk(node, where: str) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("expr"), str):
                found.append((where, node["expr"]))
            query = node.get("query")
            if node.get("type") == "query" and isinstance(query, dict) and "query" in query:
                expr = template_query_expr(query["query"])
                if expr:
                    found.append((f"{where} variable {node['name']}", expr))
            for value in node.values():
                walk(value, where)
        elif isinstance(node, list):
            for value in node:
                walk(value, where)

    for path in sorted((GRAFANA_DIR / "dashboards").glob("*.json")):
        walk(json.loads(path.read_text()), path.name)
    return found


RECORDED = {rule["record"] for rule in rule_entries() if "record" in rule}


class TestMetricNames:
    def test_ignores_functions_labels_and_keywords(self) -> None:
        """Function names, grouping labels, matchers and keywords are not metric names."""
        expr = (
            'sum without (instance) (rate(a_total{job="x"}[5m])) / on (job) group_left b > bool 1'
        )
        assert metric_names(expr) == {"a_total", "b"}

    def test_ignores_names_inside_strings(self) -> None:
        """A metric name inside a string literal is not a selection."""
        assert metric_names('label_replace(up, "dst", "aftersales_fake", "src", ".*")') == {"up"}

    def test_reads_name_matcher(self) -> None:
        """A {__name__="..."} selector counts as that metric."""
        assert metric_names('{__name__="aftersales_consumer_lag", topic="orders"}') == {
            "aftersales_consumer_lag"
        }

    def test_keeps_recorded_names(self) -> None:
        """Recording-rule names with colons are extracted whole."""
        assert metric_names("topic:aftersales_events:rate5m offset 5m") == {
            "topic:aftersales_events:rate5m"
        }

    def test_understands_grafana_variables(self) -> None:
        """Grafana variables and interval macros do not become names."""
        assert metric_names('rate(aftersales_events_total{topic="$topic"}[$__rate_interval])') == {
            "aftersales_events_total"
        }

    def test_ignores_exponent_literals(self) -> None:
        """Number literals like 1e3 are not names."""
        assert metric_names("x > 1e3") == {"x"}

    def test_histogram_suffixes_are_known(self) -> None:
        """The histogram's _bucket, _sum and _count samples are known names."""
        assert {
            "aftersales_event_to_alert_seconds_bucket",
            "aftersales_event_to_alert_seconds_count",
        } <= WORKER_SAMPLE_NAMES

    def test_reads_names_from_a_scrape(self) -> None:
        """exposed_sample_names lists the samples of a /metrics body."""
        registry = CollectorRegistry()
        Gauge("aftersales_broker_connected", "x", registry=registry).set(1)
        Histogram("aftersales_event_to_alert_seconds", "x", ["kind"], registry=registry).labels(
            "event"
        ).observe(1)
        names = exposed_sample_names(generate_latest(registry).decode())
        assert {"aftersales_broker_connected", "aftersales_event_to_alert_seconds_bucket"} <= names

    def test_reads_declared_families_without_samples(self) -> None:
        """exposed_metric_names includes childless labelled families, counters with _total."""
        registry = CollectorRegistry()
        Counter("aftersales_events_total", "x", ["topic", "outcome"], registry=registry)
        names = exposed_metric_names(generate_latest(registry).decode())
        assert "aftersales_events_total" in names


class TestDeployQueries:
    @pytest.mark.parametrize(
        "rule", rule_entries(), ids=lambda r: r.get("alert") or r.get("record")
    )
    def test_rule_uses_known_worker_metrics(self, rule: dict) -> None:
        """Every aftersales_* name in a rule expression is a worker metric."""
        assert unknown_worker_names(metric_names(rule["expr"])) == set()

    @pytest.mark.parametrize(("where", "expr"), dashboard_exprs(), ids=lambda v: v[:60])
    def test_dashboard_uses_known_worker_metrics(self, where: str, expr: str) -> None:
        """Every aftersales_* name in a dashboard query is a worker metric."""
        assert unknown_worker_names(metric_names(expr)) == set()

    @pytest.mark.parametrize(("where", "expr"), dashboard_exprs(), ids=lambda v: v[:60])
    def test_dashboard_recorded_names_are_recorded(self, where: str, expr: str) -> None:
        """Every recording-rule name a dashboard reads is produced by a shipped recording rule."""
        assert {n for n in metric_names(expr) if is_recorded_name(n)} <= RECORDED

    def test_dashboard_queries_parse(self, promtool: str, tmp_path: Path) -> None:
        """promtool parses every dashboard query (variables substituted)."""
        rules = [
            {"record": f"dashboard:check:{i}", "expr": grafana_to_promql(expr)}
            for i, (_, expr) in enumerate(dashboard_exprs())
        ]
        path = write_yaml(
            {"groups": [{"name": "dashboards", "rules": rules}]}, tmp_path / "dashboards.yml"
        )
        result = subprocess.run(
            [promtool, "check", "rules", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
