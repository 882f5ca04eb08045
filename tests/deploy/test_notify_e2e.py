"""End to end on loopback: real Alertmanager -> notify-bridge -> DingTalk and Feishu stubs,
and real Alertmanager -> WeCom stub through its built-in wechat_configs.

Alertmanager runs the shipped deploy/alertmanager/alertmanager-china.yml (routing,
templates) with only addresses, credentials and waits rewritten. The bridge runs as
``aftersales notify-bridge`` in its own process with AFTERSALES_LOCALE=zh_CN. The stubs
(tests/notify_stubs.py) verify each request's signature the way the platforms do and
refuse a wrong one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from alerts.model import SeriesRef
from alerts.text import AlertTexts
from tests.deploy.deploy_tools import REPO
from tests.deploy.render import render_china_alertmanager_config, write_yaml
from tests.deploy.test_alerting_e2e import (
    LOOPBACK,
    STARTUP_TIMEOUT_S,
    Server,
    free_port,
    http_ok,
    start_server,
    wait_until,
)
from tests.notify_stubs import Stub, dingtalk_stub, feishu_stub, serve, wecom_stub
from tests.unit.alerts.conftest import FIRE

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NOTIFY_TIMEOUT_S = 60.0
DING = ("ding-token", "SECding-secret")
FEISHU = ("feishu-hook", "feishu-secret")
WECOM = ("corp-1", "wecom-app-secret", "1000002")
GRAFANA = "http://grafana.test:3000"

ZH = AlertTexts(locale="zh_CN")
CRITICAL = SeriesRef("return_rate", "sku", "SKU-00042")
CRITICAL_DECISION = replace(
    FIRE, observed=0.3125, baseline=0.05, lower=0.02, upper=0.08, sample_size=1204
)
WARNING = SeriesRef("wait_time_p90", "queue", "returns")
WARNING_DECISION = replace(
    FIRE,
    observed=1500.0,
    baseline=300.0,
    lower=None,
    upper=600.0,
    sample_size=88,
    severity="warning",
)


def anomaly(series: SeriesRef, decision: Any, severity: str) -> dict[str, Any]:
    """An alert as Prometheus sends it for an open episode (labels + Chinese annotations)."""
    return {
        "labels": {
            "alertname": "AftersalesAnomaly",
            "source": "aftersales-monitor",
            "severity": severity,
            "rule": series.rule,
            "dimension": series.dimension,
            "key": series.key,
            "direction": "up",
            "alert_id": f"e2e-{series.rule}",
        },
        "annotations": {
            "summary": ZH.summary(series, decision),
            "runbook": ZH.runbook(series, decision),
        },
        "startsAt": datetime.now(UTC).isoformat(),
        "generatorURL": "http://prometheus.test/graph",
    }


CRITICAL_ALERT = anomaly(CRITICAL, CRITICAL_DECISION, "critical")
WARNING_ALERT = anomaly(WARNING, WARNING_DECISION, "warning")


@pytest.fixture(scope="module")
def stubs() -> Iterator[dict[str, Stub]]:
    """Signature-checking DingTalk, Feishu and WeCom stubs."""
    with (
        serve(dingtalk_stub(*DING)) as ding,
        serve(feishu_stub(*FEISHU)) as feishu,
        serve(wecom_stub(WECOM[0], WECOM[1])) as wecom,
    ):
        yield {"dingtalk": ding, "feishu": feishu, "wecom": wecom}


def bridge_env(
    stubs: dict[str, Stub], port: int, ding_secret: str = DING[1], retries: str = "2"
) -> dict[str, str]:
    """Environment of a bridge process aimed at the stubs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AFTERSALES_", "KAFKA_"))}
    env.update(
        {
            "PYTHONPATH": str(REPO),
            "AFTERSALES_LOCALE": "zh_CN",
            "AFTERSALES_LOG_FORMAT": "json",
            "AFTERSALES_BRIDGE_HOST": LOOPBACK,
            "AFTERSALES_BRIDGE_PORT": str(port),
            "AFTERSALES_BRIDGE_RETRIES": retries,
            "AFTERSALES_GRAFANA_URL": GRAFANA,
            "AFTERSALES_DINGTALK_WEBHOOK": f"{stubs['dingtalk'].url}/robot/send?access_token={DING[0]}",
            "AFTERSALES_DINGTALK_SECRET": ding_secret,
            "AFTERSALES_FEISHU_WEBHOOK": f"{stubs['feishu'].url}/open-apis/bot/v2/hook/{FEISHU[0]}",
            "AFTERSALES_FEISHU_SECRET": FEISHU[1],
        }
    )
    return env


def start_bridge(env: dict[str, str], port: int, log: Path) -> Iterator[str]:
    """Run ``aftersales notify-bridge``; yield its base URL; always stop it."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "streams.cli.main", "notify-bridge"],
            env=env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://{LOOPBACK}:{port}"
    try:
        wait_until(
            lambda: process.poll() is None and http_ok(f"{url}/health"),
            STARTUP_TIMEOUT_S,
            "notify-bridge /health",
            log,
        )
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def bridge(stubs: dict[str, Stub], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The bridge with the right secrets."""
    port = free_port()
    yield from start_bridge(
        bridge_env(stubs, port), port, tmp_path_factory.mktemp("bridge") / "bridge.log"
    )


@pytest.fixture(scope="module")
def alertmanager(
    alertmanager_bin: str,
    bridge: str,
    stubs: dict[str, Stub],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Server]:
    """The real Alertmanager with the China example config aimed at the bridge and stubs."""
    workdir = tmp_path_factory.mktemp("alertmanager-china")
    config = write_yaml(
        render_china_alertmanager_config(
            bridge,
            f"{stubs['wecom'].url}/cgi-bin/",
            corp_id=WECOM[0],
            api_secret=WECOM[1],
            agent_id=WECOM[2],
        ),
        workdir / "alertmanager.yml",
    )
    address = f"{LOOPBACK}:{free_port()}"
    yield from start_server(
        [
            alertmanager_bin,
            f"--config.file={config}",
            f"--storage.path={workdir / 'data'}",
            f"--web.listen-address={address}",
            "--cluster.listen-address=",
        ],
        address,
        workdir / "alertmanager.log",
    )


def post_json(url: str, body: Any) -> tuple[int, dict[str, Any]]:
    """POST JSON; return the status and the JSON answer (also for error statuses)."""
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


@pytest.fixture(scope="module")
def fired(alertmanager: Server) -> None:
    """Send the critical and the warning alert to Alertmanager's API."""
    status, _ = post_json(
        f"http://{alertmanager.address}/api/v2/alerts", [CRITICAL_ALERT, WARNING_ALERT]
    )
    assert status == 200


def delivered(stub: Stub, text: str) -> str:
    """The first accepted message (as JSON text) that contains ``text``; fail if none comes."""
    seen: list[str] = []

    def found() -> bool:
        with stub.log.lock:
            seen[:] = [json.dumps(body, ensure_ascii=False) for body in stub.log.accepted]
        return any(text in body for body in seen)

    wait_until(found, NOTIFY_TIMEOUT_S, f"a message containing {text[:40]!r} at {stub.url}")
    return next(body for body in seen if text in body)


class TestChinaNotifications:
    def test_critical_reaches_dingtalk_signed_in_chinese(
        self, fired: None, stubs: dict[str, Stub]
    ) -> None:
        """The critical alert reaches the DingTalk robot (signature verified by the stub) as an
        actionCard with the Chinese summary, runbook and the Grafana band button."""
        message = json.loads(delivered(stubs["dingtalk"], CRITICAL_ALERT["annotations"]["summary"]))
        card = message["actionCard"]
        assert card["title"] == "【告警】严重 · 退货率 · SKU SKU-00042"
        assert "处置建议: " + CRITICAL_ALERT["annotations"]["runbook"] in card["text"]
        assert card["singleURL"] == (
            f"{GRAFANA}/d/aftersales-thresholds/?var-rule=return_rate"
            "&var-dimension=sku&var-key=SKU-00042"
        )
        assert stubs["dingtalk"].log.refused == []

    def test_critical_reaches_wecom_through_wechat_configs(
        self, fired: None, stubs: dict[str, Stub]
    ) -> None:
        """The same alert reaches WeCom through Alertmanager's own wechat_configs, rendered
        by the shipped Chinese template."""
        message = json.loads(delivered(stubs["wecom"], CRITICAL_ALERT["annotations"]["summary"]))
        content = message["text"]["content"]
        assert message["agentid"] == WECOM[2] and message["msgtype"] == "text"
        assert "【告警】严重" in content and "处置建议：" in content
        assert "/d/aftersales-thresholds/?var-rule=return_rate" in content

    def test_warning_reaches_feishu_signed_in_chinese(
        self, fired: None, stubs: dict[str, Stub]
    ) -> None:
        """The warning reaches the Feishu bot (signature verified) as an orange card."""
        summary = WARNING_ALERT["annotations"]["summary"]
        assert summary.startswith("队列 returns 的90 分位等待时长为 25.0 分钟")
        card = json.loads(delivered(stubs["feishu"], summary))["card"]
        assert card["header"]["template"] == "orange"
        assert card["header"]["title"]["content"] == "【告警】警告 · 90 分位等待时长 · 队列 returns"
        assert stubs["feishu"].log.refused == []

    def test_wrong_secret_is_rejected(self, stubs: dict[str, Stub], tmp_path: Path) -> None:
        """A bridge with a wrong DingTalk secret is refused by the stub on every attempt and
        answers 502 (so Alertmanager retries); nothing is delivered."""
        port = free_port()
        before = len(stubs["dingtalk"].log.accepted)
        env = bridge_env(stubs, port, ding_secret="SECnot-the-secret", retries="1")
        for url in start_bridge(env, port, tmp_path / "bridge.log"):
            body = {
                "version": "4",
                "status": "firing",
                "receiver": "oncall-dingtalk-wecom",
                "alerts": [{**CRITICAL_ALERT, "status": "firing"}],
            }
            status, answer = post_json(f"{url}/dingtalk", body)
            assert status == 502 and "sign not match" in answer["error"]
        assert stubs["dingtalk"].log.refused[-2:] == ["sign", "sign"]
        assert len(stubs["dingtalk"].log.accepted) == before

    def test_bad_payload_is_refused_by_the_bridge(self, bridge: str) -> None:
        """A body that is not an Alertmanager notification gets 400 naming the field."""
        status, answer = post_json(f"{bridge}/feishu", {"alerts": [{"status": "firing"}]})
        assert status == 400 and "alerts[0].labels" in answer["error"]
