"""Grafana provisioning and dashboards."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from tests.deploy.deploy_tools import GRAFANA_DIR
from tests.deploy.render import load_yaml

DASHBOARDS = sorted((GRAFANA_DIR / "dashboards").glob("*.json"))


def dashboard(name: str) -> dict[str, Any]:
    """Load one shipped dashboard by file stem suffix (overview, thresholds)."""
    return json.loads((GRAFANA_DIR / "dashboards" / f"aftersales-{name}.json").read_text())


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Yield every panel, including those nested in rows."""
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])


def exprs(board: dict[str, Any]) -> list[str]:
    """Return every query expression of a dashboard's panels."""
    return [t["expr"] for p in panels(board) for t in p.get("targets", []) if "expr" in t]


def datasource_uid() -> str:
    """Return the uid of the provisioned Prometheus datasource."""
    (source,) = load_yaml(GRAFANA_DIR / "provisioning/datasources/prometheus.yml")["datasources"]
    return source["uid"]


class TestProvisioning:
    def test_datasource_points_at_compose_prometheus(self) -> None:
        """The datasource is the compose service prometheus:9090, marked default."""
        (source,) = load_yaml(GRAFANA_DIR / "provisioning/datasources/prometheus.yml")[
            "datasources"
        ]
        assert (source["type"], source["url"], source["isDefault"]) == (
            "prometheus",
            "http://prometheus:9090",
            True,
        )

    def test_dashboard_provider_reads_the_mounted_folder(self) -> None:
        """The provider loads dashboards from the path docker-compose mounts them at."""
        (provider,) = load_yaml(GRAFANA_DIR / "provisioning/dashboards/aftersales.yml")["providers"]
        assert provider["options"]["path"] == "/var/lib/grafana/dashboards"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
class TestEveryDashboard:
    def test_has_unique_uid_and_panel_ids(self, path) -> None:
        """A dashboard has a uid and no two panels share an id."""
        board = json.loads(path.read_text())
        ids = [p["id"] for p in panels(board)]
        assert board["uid"] and len(ids) == len(set(ids))

    def test_imports_into_any_grafana(self, path) -> None:
        """No hard-coded datasource uid: every Prometheus reference is the ``datasource``
        variable, which defaults to the ``DS_PROMETHEUS`` import input (``__inputs``)."""
        board = json.loads(path.read_text())
        uids = {ds.get("uid") for ds in _datasources(board) if ds.get("type") == "prometheus"}
        assert uids == {"${datasource}"}
        assert datasource_uid() not in {ds.get("uid") for ds in _datasources(board)}
        (source_input,) = board["__inputs"]
        assert (source_input["type"], source_input["pluginId"]) == ("datasource", "prometheus")
        variable = board["templating"]["list"][0]
        assert (variable["name"], variable["type"], variable["query"]) == (
            "datasource",
            "datasource",
            "prometheus",
        )
        assert variable["current"]["value"] == f"${{{source_input['name']}}}"
        assert {"type": "datasource", "id": "prometheus"}.items() <= next(
            r for r in board["__requires"] if r["id"] == "prometheus"
        ).items()

    def test_every_query_names_its_datasource(self, path) -> None:
        """Each panel with queries, and each query variable, names the datasource."""
        board = json.loads(path.read_text())
        for panel in panels(board):
            if panel.get("targets"):
                assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        for variable in board["templating"]["list"]:
            if variable["type"] == "query":
                assert variable["datasource"]["uid"] == "${datasource}", variable["name"]


def _datasources(node: Any) -> Iterator[dict[str, Any]]:
    """Yield every datasource reference found anywhere in a dashboard."""
    if isinstance(node, dict):
        if isinstance(node.get("datasource"), dict):
            yield node["datasource"]
        for value in node.values():
            yield from _datasources(value)
    elif isinstance(node, list):
        for value in node:
            yield from _datasources(value)


class TestOverviewDashboard:
    @pytest.mark.parametrize(
        "needle",
        [
            "aftersales_alerts_active",
            "aftersales_alert_info",
            "topic:aftersales_events:rate5m",
            "aftersales_dead_letter",
            "topic:aftersales_consumer_lag:sum",
            "instance:aftersales_watermark_delay:seconds",
        ],
    )
    def test_shows_required_signal(self, needle: str) -> None:
        """The overview queries each signal the issue asks for."""
        assert any(needle in e for e in exprs(dashboard("overview")))

    def test_alert_table_shows_summary_and_runbook(self) -> None:
        """The alert table shows aftersales_alert_info now, with summary and runbook columns."""
        (table,) = [p for p in panels(dashboard("overview")) if p["type"] == "table"]
        (target,) = table["targets"]
        order = table["transformations"][0]["options"]["indexByName"]
        assert (
            "aftersales_alert_info" in target["expr"]
            and target["format"] == "table"
            and target["instant"]
        )
        assert {"summary", "runbook", "rule", "dimension", "key", "severity"} <= set(order)

    def test_alert_table_sorts_severities_by_rank(self) -> None:
        """Severities sort critical, warning, info: a rank label sorts the table."""
        (table,) = [p for p in panels(dashboard("overview")) if p["type"] == "table"]
        assert_ranked(table)

    def test_alert_table_links_each_episode_to_its_band(self) -> None:
        """A row links to the band view of its rule, dimension and key."""
        (table,) = [p for p in panels(dashboard("overview")) if p["type"] == "table"]
        assert_links_to_band_view(table)


def assert_ranked(table: dict[str, Any]) -> None:
    """The table's query labels critical 1, warning 2, info 3 as ``rank``, sorted ascending."""
    expr = table["targets"][0]["expr"]
    for rank, severity in (("1", "critical"), ("2", "warning"), ("3", "info")):
        assert f'"rank", "{rank}", "severity", "{severity}"' in expr
    (sort,) = table["options"]["sortBy"]
    shown = next(o for o in table["fieldConfig"]["overrides"] if o["matcher"]["options"] == "rank")
    display = {p["id"]: p["value"] for p in shown["properties"]}.get("displayName", "rank")
    assert sort == {"displayName": display, "desc": False}


def assert_links_to_band_view(table: dict[str, Any]) -> None:
    """The table's rows link to the thresholds dashboard with rule, dimension and key."""
    (link,) = table["fieldConfig"]["defaults"]["links"]
    band = dashboard("thresholds")
    assert link["url"].startswith(f"/d/{band['uid']}/")
    names = {v["name"] for v in band["templating"]["list"]}
    for name in ("rule", "dimension", "key"):
        assert name in names and f"var-{name}=${{__data.fields.{name}}}" in link["url"]
    assert "${datasource:queryparam}" in link["url"]


class TestBusinessDashboard:
    def test_top_anomalous_skus_carriers_queues(self) -> None:
        """Tables of the 10 series furthest from baseline, in band widths, per dimension."""
        board = dashboard("business")
        by_title = {p["title"]: p for p in panels(board)}
        for title, dimension in (
            ("Most anomalous SKUs", 'dimension="sku"'),
            ("Most anomalous carriers", "carrier"),
            ("Most anomalous service queues", 'dimension="queue"'),
        ):
            panel = by_title[title]
            expr = panel["targets"][0]["expr"]
            assert expr.startswith("topk(10, ") and dimension in expr
            for gauge in ("observed", "baseline", "upper", "lower"):
                assert f"aftersales_metric_{gauge}{{" in expr
            assert_links_to_band_view(panel)

    def test_open_incidents_by_class_and_severity_ranked(self) -> None:
        """Open episodes are counted by anomaly class and severity, critical first."""
        (table,) = [
            p
            for p in panels(dashboard("business"))
            if p["title"] == "Open incidents by class and severity"
        ]
        assert "sum by (class, severity) (aftersales_alert_info)" in table["targets"][0]["expr"]
        assert_ranked(table)

    def test_open_incidents_group_by_labels_the_worker_exports(self) -> None:
        """``class`` and ``severity`` are labels of the worker's ``aftersales_alert_info``."""
        from prometheus_client import CollectorRegistry

        from alerts.metrics import AlertMetrics

        metrics = AlertMetrics.create(CollectorRegistry())
        (family,) = metrics.alert_info.describe()
        assert family.name == "aftersales_alert_info"
        assert {"class", "severity"} <= set(metrics.alert_info._labelnames)


class TestThresholdDashboard:
    def test_has_rule_and_key_variables_from_label_values(self) -> None:
        """The rule and key variables are label_values queries."""
        variables = {v["name"]: v for v in dashboard("thresholds")["templating"]["list"]}
        for name in ("rule", "key"):
            assert variables[name]["query"]["query"].startswith(
                "label_values(aftersales_metric_observed"
            )

    def test_band_panel_draws_observed_baseline_lower_upper(self) -> None:
        """The band panel queries the four gauges, filtered by the selected rule and key."""
        (panel,) = [p for p in panels(dashboard("thresholds")) if p["id"] == 2]
        legends = {t["legendFormat"]: t["expr"] for t in panel["targets"]}
        assert set(legends) == {"observed", "baseline", "lower", "upper"}
        for legend, expr in legends.items():
            assert (
                expr.startswith(f"aftersales_metric_{legend}{{")
                and 'rule="$rule"' in expr
                and 'key="$key"' in expr
            )

    def test_band_is_filled_between_lower_and_upper(self) -> None:
        """The upper series is filled down to the lower series."""
        (panel,) = [p for p in panels(dashboard("thresholds")) if p["id"] == 2]
        upper = next(
            o for o in panel["fieldConfig"]["overrides"] if o["matcher"]["options"] == "upper"
        )
        assert {"id": "custom.fillBelowTo", "value": "lower"} in upper["properties"]


class TestBusinessQueriesInPrometheus:
    """The business dashboard's queries evaluated by Prometheus's own engine
    (``promtool test rules`` with ``promql_expr_test``) on hand-made series."""

    SERIES: ClassVar[dict[str, tuple[str, int, int, int | None, int]]] = {
        # key: (dimension, observed, baseline, lower or None, upper)
        "A": ("sku", 30, 10, 5, 15),  # 20 above, band 5 above: 4 band widths
        "B": ("sku", 12, 10, 5, 15),  # inside: 0.4
        "C": ("sku", 2, 10, 6, 15),  # 8 below, band 4 below: 2
        "D": ("category", 90, 10, 5, 15),  # another dimension: not an SKU
        "E": ("sku", 8, 10, None, 15),  # below, but only the upper side is watched
    }

    def run(
        self,
        promtool: str,
        tmp_path,
        expr: str,
        series: list[dict[str, str]],
        expected: list[dict[str, Any]],
    ) -> None:
        spec = {
            "rule_files": [],
            "evaluation_interval": "1m",
            "tests": [
                {
                    "interval": "1m",
                    "input_series": series,
                    "promql_expr_test": [
                        {"expr": expr, "eval_time": "1m", "exp_samples": expected}
                    ],
                }
            ],
        }
        path = tmp_path / "test.yml"
        path.write_text(json.dumps(spec))
        result = subprocess.run(
            [promtool, "test", "rules", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr

    def test_top_skus_by_distance_in_band_widths(self, promtool: str, tmp_path) -> None:
        """SKUs rank by |observed - baseline| over the band's width on that side."""
        series = []
        for key, (dimension, *values) in self.SERIES.items():
            for gauge, value in zip(
                ("observed", "baseline", "lower", "upper"), values, strict=True
            ):
                if value is not None:
                    labels = f'rule="return_rate", dimension="{dimension}", key="{key}"'
                    series.append(
                        {"series": f"aftersales_metric_{gauge}{{{labels}}}", "values": f"{value}x2"}
                    )
        (panel,) = [p for p in panels(dashboard("business")) if p["title"] == "Most anomalous SKUs"]
        expected = [
            {"labels": f'{{rule="return_rate", dimension="sku", key="{key}"}}', "value": value}
            for key, value in (("A", 4), ("B", 0.4), ("C", 2))
        ]
        self.run(promtool, tmp_path, panel["targets"][0]["expr"], series, expected)

    def test_open_incidents_carry_their_rank(self, promtool: str, tmp_path) -> None:
        """Open episodes are summed by class and severity over rules and workers and
        labelled with the severity's rank."""
        series = [
            {
                "series": (
                    f'aftersales_alert_info{{rule="{r}", class="{c}", severity="{s}", '
                    f'alert_id="{a}", instance="{i}"}}'
                ),
                "values": "1x2",
            }
            for r, c, s, a, i in (
                ("return_rate", "product", "warning", "ep-1", "a"),
                ("complaint_rate", "product", "warning", "ep-2", "b"),
                ("bad_review_rate", "product", "critical", "ep-3", "a"),
                ("order_volume", "demand", "critical", "ep-4", "a"),
                ("wait_time_p90", "service", "info", "ep-5", "b"),
            )
        ]
        (table,) = [
            p
            for p in panels(dashboard("business"))
            if p["title"] == "Open incidents by class and severity"
        ]
        expected = [
            {"labels": f'{{class="{c}", severity="{s}", rank="{k}"}}', "value": n}
            for c, s, k, n in (
                ("product", "warning", "2", 2),
                ("product", "critical", "1", 1),
                ("demand", "critical", "1", 1),
                ("service", "info", "3", 1),
            )
        ]
        self.run(promtool, tmp_path, table["targets"][0]["expr"], series, expected)
