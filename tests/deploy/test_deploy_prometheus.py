"""Prometheus configuration, rules and their promtool unit tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.deploy.deploy_tools import PROMETHEUS_DIR
from tests.deploy.render import load_yaml

RULE_FILES = sorted((PROMETHEUS_DIR / "rules").glob("*.yml"))
RULE_TEST_FILES = sorted((PROMETHEUS_DIR / "tests").glob("*.test.yml"))
HEALTH_ALERTS = {
    "AftersalesWorkerDown",
    "AftersalesConsumerLagGrowing",
    "AftersalesDeadLetterRateHigh",
    "AftersalesLateEventsHigh",
    "AftersalesNoEvents",
    "AftersalesBrokerDisconnected",
}


def run(*args: str | Path, cwd: Path = PROMETHEUS_DIR) -> subprocess.CompletedProcess[str]:
    """Run a command with a time bound and captured output."""
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def alerting_rules() -> dict[str, dict]:
    """Return every alerting rule of the shipped rule files by alert name."""
    rules = {}
    for path in RULE_FILES:
        for group in load_yaml(path)["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    rules[rule["alert"]] = rule
    return rules


def alert_test_cases() -> list[tuple[str, list]]:
    """Return (alertname, exp_alerts) for every alert_rule_test case of every unit-test file."""
    cases = []
    for path in RULE_TEST_FILES:
        for test in load_yaml(path)["tests"]:
            for case in test.get("alert_rule_test", []):
                cases.append((case["alertname"], case.get("exp_alerts") or []))
    return cases


class TestPromtoolChecks:
    def test_config_is_valid(self, promtool: str) -> None:
        """promtool accepts prometheus.yml and the rule files it loads."""
        result = run(promtool, "check", "config", "prometheus.yml")
        assert result.returncode == 0, result.stdout + result.stderr

    def test_config_loads_every_rule_file(self, promtool: str) -> None:
        """prometheus.yml's rule_files pattern picks up every file under rules/."""
        result = run(promtool, "check", "config", "prometheus.yml")
        assert f"{len(RULE_FILES)} rule files found" in result.stdout + result.stderr

    def test_rules_are_valid(self, promtool: str) -> None:
        """promtool accepts every rule file."""
        result = run(promtool, "check", "rules", *RULE_FILES)
        assert result.returncode == 0, result.stdout + result.stderr

    @pytest.mark.parametrize("test_file", RULE_TEST_FILES, ids=lambda p: p.name)
    def test_rule_unit_tests_pass(self, promtool: str, test_file: Path) -> None:
        """promtool's unit tests of the rules pass."""
        result = run(promtool, "test", "rules", test_file.relative_to(PROMETHEUS_DIR))
        assert result.returncode == 0, result.stdout + result.stderr


class TestRuleCoverage:
    @pytest.mark.parametrize("alertname", sorted(alerting_rules()))
    def test_every_alert_has_a_firing_case(self, alertname: str) -> None:
        """Each alerting rule has a unit test in which it fires."""
        assert any(name == alertname and exp for name, exp in alert_test_cases())

    @pytest.mark.parametrize("alertname", sorted(alerting_rules()))
    def test_every_alert_has_a_not_firing_case(self, alertname: str) -> None:
        """Each alerting rule has a unit test in which it stays silent."""
        assert any(name == alertname and not exp for name, exp in alert_test_cases())

    def test_every_recording_rule_is_tested(self) -> None:
        """Each recording rule's output is checked by a promql_expr_test."""
        recorded = {
            rule["record"]
            for path in RULE_FILES
            for group in load_yaml(path)["groups"]
            for rule in group["rules"]
            if "record" in rule
        }
        tested = " ".join(
            case["expr"]
            for path in RULE_TEST_FILES
            for test in load_yaml(path)["tests"]
            for case in test.get("promql_expr_test", [])
        )
        assert {name for name in recorded if name not in tested} == set()


class TestAlertingRules:
    def test_health_alerts_exist(self) -> None:
        """The service-health alerts named in the issue are all defined."""
        assert set(alerting_rules()) >= HEALTH_ALERTS

    @pytest.mark.parametrize("alertname", sorted(alerting_rules()))
    def test_alert_has_summary_and_runbook(self, alertname: str) -> None:
        """Every alert carries summary and runbook annotations."""
        assert {"summary", "runbook"} <= set(alerting_rules()[alertname]["annotations"])

    @pytest.mark.parametrize("alertname", sorted(HEALTH_ALERTS))
    def test_health_alert_has_a_severity(self, alertname: str) -> None:
        """Every health alert sets a severity Alertmanager can route."""
        assert alerting_rules()[alertname]["labels"]["severity"] in {"info", "warning", "critical"}

    def test_anomaly_alert_reads_alert_info(self) -> None:
        """The anomaly alert reads aftersales_alert_info and keeps the series' severity."""
        rule = alerting_rules()["AftersalesAnomaly"]
        assert "aftersales_alert_info" in rule["expr"]
        assert "severity" not in rule.get("labels", {})

    def test_scrape_job_matches_health_rules(self) -> None:
        """The worker's scrape job name is the one the health rules select on."""
        jobs = [
            job["job_name"]
            for job in load_yaml(PROMETHEUS_DIR / "prometheus.yml")["scrape_configs"]
        ]
        assert "aftersales-worker" in jobs
        assert 'job="aftersales-worker"' in alerting_rules()["AftersalesWorkerDown"]["expr"]
