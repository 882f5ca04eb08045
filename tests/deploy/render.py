"""Render test copies of the shipped Prometheus and Alertmanager configurations.

The copies keep the shipped rules, routing, grouping and inhibition, and change
only what a loopback test must: targets, webhook URLs and timings.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.deploy_tools import ALERTMANAGER_DIR, PROMETHEUS_DIR

WORKER_JOB = "aftersales-worker"


def load_yaml(path: Path) -> Any:
    """Parse one YAML file."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def render_prometheus_config(
    worker_target: str,
    alertmanager_target: str,
    *,
    interval: str = "1s",
    source: Path = PROMETHEUS_DIR / "prometheus.yml",
) -> dict[str, Any]:
    """Return the shipped prometheus.yml aimed at ``worker_target`` and ``alertmanager_target``.

    Only the worker job is kept; rule_files become absolute paths so the copy
    can live anywhere.
    """
    config = copy.deepcopy(load_yaml(source))
    config["global"]["scrape_interval"] = interval
    config["global"]["evaluation_interval"] = interval
    config["rule_files"] = [
        str((source.parent / pattern).resolve()) for pattern in config["rule_files"]
    ]
    config["alerting"]["alertmanagers"] = [{"static_configs": [{"targets": [alertmanager_target]}]}]
    jobs = [job for job in config["scrape_configs"] if job["job_name"] == WORKER_JOB]
    for job in jobs:
        job["static_configs"] = [{"targets": [worker_target]}]
        job["scrape_interval"] = interval
    config["scrape_configs"] = jobs
    return config


def render_alertmanager_config(
    webhook_url: str,
    *,
    group_wait: str = "1s",
    group_interval: str = "1s",
    source: Path = ALERTMANAGER_DIR / "alertmanager.yml",
) -> dict[str, Any]:
    """Return the shipped alertmanager.yml with every webhook sent to ``webhook_url``/<receiver>.

    Every route's group_wait and group_interval are shortened so a test sees
    the first notification within seconds.
    """
    config = copy.deepcopy(load_yaml(source))
    for receiver in config["receivers"]:
        for webhook in receiver.get("webhook_configs", []):
            webhook["url"] = f"{webhook_url.rstrip('/')}/{receiver['name']}"
    _absolute_templates(config, source)
    _shorten_waits(config, group_wait, group_interval)
    return config


def render_china_alertmanager_config(
    bridge_url: str,
    wechat_api_url: str,
    *,
    corp_id: str,
    api_secret: str,
    agent_id: str,
    group_wait: str = "1s",
    group_interval: str = "1s",
    source: Path = ALERTMANAGER_DIR / "alertmanager-china.yml",
) -> dict[str, Any]:
    """Return alertmanager-china.yml with the bridge at ``bridge_url`` (its ``/dingtalk`` and
    ``/feishu`` paths kept), WeCom's API at ``wechat_api_url`` and test credentials."""
    config = copy.deepcopy(load_yaml(source))
    config["global"].update(
        {
            "wechat_api_url": wechat_api_url.rstrip("/") + "/",
            "wechat_api_corp_id": corp_id,
            "wechat_api_secret": api_secret,
        }
    )
    for receiver in config["receivers"]:
        for webhook in receiver.get("webhook_configs", []):
            path = webhook["url"].rsplit("/", 1)[1]
            webhook["url"] = f"{bridge_url.rstrip('/')}/{path}"
        for wechat in receiver.get("wechat_configs", []):
            wechat["agent_id"] = agent_id
    _absolute_templates(config, source)
    _shorten_waits(config, group_wait, group_interval)
    return config


def _absolute_templates(config: dict[str, Any], source: Path) -> None:
    """Template globs become absolute, so the copy can live anywhere."""
    config["templates"] = [
        str((source.parent / pattern).resolve()) for pattern in config.get("templates", [])
    ]


def _shorten_waits(config: dict[str, Any], group_wait: str, group_interval: str) -> None:

    def shorten(route: dict[str, Any]) -> None:
        for key, value in (("group_wait", group_wait), ("group_interval", group_interval)):
            if key in route or route is config["route"]:
                route[key] = value
        for child in route.get("routes", []):
            shorten(child)

    shorten(config["route"])


def write_yaml(data: Any, path: Path) -> Path:
    """Write YAML to ``path`` and return it."""
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path
