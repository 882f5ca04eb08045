"""Alertmanager routing, inhibition and the promo silence example."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from tests.deploy.deploy_tools import ALERTMANAGER_DIR
from tests.deploy.render import (
    load_yaml,
    render_alertmanager_config,
    render_china_alertmanager_config,
    write_yaml,
)

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
        {
            "alertname": "AftersalesAnomaly",
            "severity": "warning",
            "rule": "return_rate",
            "dimension": "region,carrier",
            "key": "north,dhl",
            "class": "product",
        },
        "category-manager",
    ),
    (
        {
            "alertname": "AftersalesAnomaly",
            "severity": "warning",
            "rule": "wait_time_p90",
            "dimension": "queue",
            "key": "returns",
            "class": "service",
        },
        "service-lead",
    ),
    (
        {
            "alertname": "AftersalesAnomaly",
            "severity": "info",
            "rule": "delivery_time_p90",
            "dimension": "carrier",
            "key": "dhl",
            "class": "logistics",
        },
        "logistics-team",
    ),
    (
        {
            "alertname": "AftersalesAnomaly",
            "severity": "critical",
            "rule": "handle_time_p90",
            "dimension": "queue",
            "key": "returns",
            "class": "service",
        },
        "paging,service-lead",
    ),
    (
        {
            "alertname": "AftersalesAnomaly",
            "severity": "critical",
            "rule": "order_outlier",
            "dimension": "sku",
            "key": "SKU-00042",
            "class": "pricing",
        },
        "paging",
    ),
    (
        {
            "alertname": "AftersalesAnomaly",
            "severity": "warning",
            "rule": "cancellation_rate",
            "dimension": "reason",
            "key": "fraud",
            "class": "fraud",
        },
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
        ids=lambda v: (
            v if isinstance(v, str) else f"{v.get('severity', 'none')}-{v.get('class', 'none')}"
        ),
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
    def test_groups_by_rule_and_group(self) -> None:
        """Notifications are grouped by rule and group (the dimension, or the incident)."""
        assert {"rule", "group"} <= set(load_yaml(CONFIG)["route"]["group_by"])

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


CHINA_CONFIG = ALERTMANAGER_DIR / "alertmanager-china.yml"
TEMPLATES = ALERTMANAGER_DIR / "templates" / "*.tmpl"
SAMPLE = {
    "receiver": "oncall-dingtalk-wecom",
    "status": "firing",
    "externalURL": "",
    "groupLabels": {},
    "commonAnnotations": {},
    "commonLabels": {
        "alertname": "AftersalesAnomaly",
        "severity": "critical",
        "rule": "return_rate",
        "dimension": "sku",
        "key": "SKU 1",
    },
    "alerts": [
        {
            "status": "firing",
            "startsAt": "2026-11-02T02:15:00Z",
            "labels": {
                "alertname": "AftersalesAnomaly",
                "severity": "critical",
                "rule": "return_rate",
                "dimension": "sku",
                "key": "SKU 1",
            },
            "annotations": {"summary": "SKU SKU 1 的退货率为 31.2%。", "runbook": "检查尺码表。"},
        }
    ],
}


def amtool_render(amtool: str, text: str, tmp_path: Any) -> str:
    """Render ``text`` with the shipped templates over SAMPLE; return the output."""
    import json

    data = tmp_path / "data.json"
    data.write_text(json.dumps(SAMPLE, ensure_ascii=False), encoding="utf-8")
    result = subprocess.run(
        [
            amtool,
            "template",
            "render",
            f"--template.glob={TEMPLATES}",
            f"--template.text={text}",
            f"--template.data={data}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


class TestTemplates:
    def test_shipped_config_loads_the_templates(self, amtool: str) -> None:
        """amtool finds the notification templates through the shipped config."""
        result = subprocess.run(
            [amtool, "check-config", str(CONFIG)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0 and "1 templates" in result.stdout, result.stdout

    def test_title(self, amtool: str, tmp_path: Any) -> None:
        """The title names status, count, severity and the series."""
        out = amtool_render(amtool, '{{ template "aftersales.title" . }}', tmp_path)
        assert out.strip() == "[FIRING:1] critical return_rate sku=SKU 1"

    def test_text_has_summary_runbook_and_band_link(self, amtool: str, tmp_path: Any) -> None:
        """The body carries the summary, the runbook and a link to the band view."""
        out = amtool_render(amtool, '{{ template "aftersales.text" . }}', tmp_path)
        assert "Summary: SKU SKU 1 的退货率为 31.2%。" in out and "Runbook: 检查尺码表。" in out
        assert (
            "/d/aftersales-thresholds/?var-rule=return_rate&var-dimension=sku&var-key=SKU+1"
        ) in out

    def test_chinese_text_in_beijing_time(self, amtool: str, tmp_path: Any) -> None:
        """The Chinese body names severity and labels in Chinese and shows UTC+8 times."""
        out = amtool_render(amtool, '{{ template "aftersales.wechat.message.zh_CN" . }}', tmp_path)
        assert "【告警】严重" in out and "处置建议：检查尺码表。" in out
        assert "开始时间：2026-11-02 10:15（北京时间）" in out


CHINA_ROUTES = [
    (
        {"alertname": "AftersalesAnomaly", "severity": "critical", "rule": "return_rate"},
        "oncall-dingtalk-wecom",
    ),
    (
        {"alertname": "AftersalesAnomaly", "severity": "warning", "rule": "return_rate"},
        "feishu-team",
    ),
    (
        {"alertname": "AftersalesAnomaly", "severity": "info", "rule": "wait_time_p90"},
        "wecom-digest",
    ),
    ({"alertname": "SomethingElse"}, "feishu-team"),
]


class TestChinaExample:
    def test_config_is_valid(self, amtool: str) -> None:
        """amtool accepts the WeCom/DingTalk/Feishu example."""
        result = subprocess.run(
            [amtool, "check-config", str(CHINA_CONFIG)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr

    @pytest.mark.parametrize(
        ("labels", "receiver"),
        CHINA_ROUTES,
        ids=lambda v: v if isinstance(v, str) else v.get("severity", "none"),
    )
    def test_route_reaches_receiver(
        self, amtool: str, labels: dict[str, str], receiver: str
    ) -> None:
        """Critical pages DingTalk and WeCom, warnings go to Feishu, info to a WeCom digest."""
        result = amtool_route(amtool, str(CHINA_CONFIG), labels, receiver)
        assert result.returncode == 0, result.stdout + result.stderr

    def test_wecom_uses_builtin_wechat_with_the_template(self) -> None:
        """WeCom receivers are Alertmanager's wechat_configs rendering the Chinese template."""
        receivers = {r["name"]: r for r in load_yaml(CHINA_CONFIG)["receivers"]}
        for name in ("oncall-dingtalk-wecom", "wecom-digest"):
            (wechat,) = receivers[name]["wechat_configs"]
            assert "aftersales.wechat.message.zh_CN" in wechat["message"]

    def test_rendered_test_copy_is_valid(self, amtool: str, tmp_path: Any) -> None:
        """The copy rendered for the end-to-end test is still valid."""
        path = write_yaml(
            render_china_alertmanager_config(
                "http://127.0.0.1:1",
                "http://127.0.0.1:2/cgi-bin/",
                corp_id="c",
                api_secret="s",
                agent_id="1",
            ),
            tmp_path / "am.yml",
        )
        result = subprocess.run(
            [amtool, "check-config", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
