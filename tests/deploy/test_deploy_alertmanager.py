"""Alertmanager routing, inhibition and the promo silence example."""

from __future__ import annotations

import subprocess

import pytest
from tests.deploy.deploy_tools import ALERTMANAGER_DIR
from tests.deploy.render import load_yaml, render_alertmanager_config, write_yaml

CONFIG = ALERTMANAGER_DIR / "alertmanager.yml"

# (label set, receiver it must reach)
ROUTES = [
    (
        {
            "alertname": "AftersalesAnomaly",
            "severity": "critical",
            "rule": "order_volume",
            "dimension": "total",
            "key": "total",
        },
        "paging",
    ),
    (
        {
            "alertname": "AftersalesAnomaly",
            "severity": "warning",
            "rule": "return_rate",
            "dimension": "region,carrier",
            "key": "north,dhl",
        },
        "chat",
    ),
    (
        {
            "alertname": "AftersalesAnomaly",
            "severity": "info",
            "rule": "wait_time_p90",
            "dimension": "queue",
            "key": "returns",
        },
        "low-noise",
    ),
    (
        {"alertname": "AftersalesWorkerDown", "severity": "critical", "job": "aftersales-worker"},
        "paging",
    ),
    (
        {"alertname": "AftersalesNoEvents", "severity": "warning", "job": "aftersales-worker"},
        "chat",
    ),
    ({"alertname": "SomethingElse"}, "chat"),
    # Routing by anomaly class: a team per class, and critical ones page as well.
    (
        {"alertname": "AftersalesAnomaly", "severity": "warning", "rule": "return_rate",
         "dimension": "region,carrier", "key": "north,dhl", "class": "product"},
        "category-manager",
    ),
    (
        {"alertname": "AftersalesAnomaly", "severity": "warning", "rule": "wait_time_p90",
         "dimension": "queue", "key": "returns", "class": "service"},
        "service-lead",
    ),
    (
        {"alertname": "AftersalesAnomaly", "severity": "info", "rule": "delivery_time_p90",
         "dimension": "carrier", "key": "dhl", "class": "logistics"},
        "logistics-team",
    ),
    (
        {"alertname": "AftersalesAnomaly", "severity": "critical", "rule": "handle_time_p90",
         "dimension": "queue", "key": "returns", "class": "service"},
        "paging,service-lead",
    ),
    (
        {"alertname": "AftersalesAnomaly", "severity": "critical", "rule": "order_outlier",
         "dimension": "sku", "key": "SKU-00042", "class": "pricing"},
        "paging",
    ),
    (
        {"alertname": "AftersalesAnomaly", "severity": "warning", "rule": "cancellation_rate",
         "dimension": "reason", "key": "fraud", "class": "fraud"},
        "chat",
    ),
]


def amtool_route(
    amtool: str, config: str, labels: dict[str, str], receiver: str
) -> subprocess.CompletedProcess[str]:
    """Run `amtool config routes test` for one label set and expected receiver."""
    return subprocess.run(
        [
            amtool,
            "config",
            "routes",
            "test",
            f"--config.file={config}",
            f"--verify.receivers={receiver}",
            *(f"{k}={v}" for k, v in labels.items()),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


class TestAmtoolChecks:
    def test_config_is_valid(self, amtool: str) -> None:
        """amtool accepts the shipped alertmanager.yml."""
        result = subprocess.run(
            [amtool, "check-config", str(CONFIG)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr

    @pytest.mark.parametrize(
        ("labels", "receiver"),
        ROUTES,
        ids=lambda v: v if isinstance(v, str) else
        f"{v.get('severity', 'none')}-{v.get('class', 'none')}",
    )
    def test_route_reaches_receiver(
        self, amtool: str, labels: dict[str, str], receiver: str
    ) -> None:
        """A representative label set is routed to the receivers its severity and class
        call for."""
        result = amtool_route(amtool, str(CONFIG), labels, receiver)
        assert result.returncode == 0, result.stdout + result.stderr

    def test_route_test_detects_a_wrong_receiver(self, amtool: str) -> None:
        """amtool reports a mismatch, so the route tests above can fail."""
        result = amtool_route(amtool, str(CONFIG), {"severity": "warning"}, "paging")
        assert result.returncode != 0

    def test_rendered_test_copy_is_valid(self, amtool: str, tmp_path) -> None:
        """The copy rendered for the end-to-end test (local webhook, short waits) is still valid."""
        path = write_yaml(
            render_alertmanager_config("http://127.0.0.1:1/hook"), tmp_path / "am.yml"
        )
        result = subprocess.run(
            [amtool, "check-config", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr


class TestRoutingTree:
    def test_groups_by_rule_and_dimension(self) -> None:
        """Notifications are grouped by rule and dimension."""
        assert {"rule", "dimension"} <= set(load_yaml(CONFIG)["route"]["group_by"])

    def test_critical_warning_inhibition_on_same_series(self) -> None:
        """A critical alert inhibits a warning with the same rule, dimension and key."""
        rules = load_yaml(CONFIG)["inhibit_rules"]
        assert any(
            'severity="critical"' in r["source_matchers"]
            and 'severity="warning"' in r["target_matchers"]
            and set(r["equal"]) == {"rule", "dimension", "key"}
            for r in rules
        )

    def test_every_receiver_is_a_replaceable_webhook(self) -> None:
        """Every receiver is a webhook with a placeholder URL on the .invalid domain."""
        for receiver in load_yaml(CONFIG)["receivers"]:
            urls = [w["url"] for w in receiver["webhook_configs"]]
            assert urls and all(".invalid/" in url for url in urls), receiver["name"]

    def test_rendered_copy_rewrites_every_url(self) -> None:
        """The test rendering points every receiver at the given local URL."""
        config = render_alertmanager_config("http://127.0.0.1:9/hook")
        urls = [w["url"] for r in config["receivers"] for w in r["webhook_configs"]]
        assert all(url.startswith("http://127.0.0.1:9/hook/") for url in urls)


class TestPromoSilence:
    def test_script_is_valid_shell(self) -> None:
        """The silence script parses as POSIX shell."""
        result = subprocess.run(
            ["sh", "-n", str(ALERTMANAGER_DIR / "silence-promo.sh")],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert result.returncode == 0, result.stderr

    def test_script_silences_only_the_promoted_series(self) -> None:
        """The script's matchers name order_volume on the channel dimension only."""
        text = (ALERTMANAGER_DIR / "silence-promo.sh").read_text()
        assert "amtool silence add" in text
        assert "rule=order_volume dimension=channel key=" in text

    def test_readme_shows_the_amtool_command(self) -> None:
        """The README's snippet silences order_volume for channel=app."""
        text = (ALERTMANAGER_DIR / "README.md").read_text()
        assert "rule=order_volume dimension=channel key=app" in text
