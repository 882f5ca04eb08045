"""The shipped monitoring against the real worker, all real servers on loopback.

A simulated customer burst goes through the embedded broker into an ``aftersales
worker`` process; Prometheus scrapes its ``/metrics`` and evaluates the shipped
rules; Alertmanager routes with the shipped configuration to a local webhook.
The same scrape also checks that every ``aftersales_*`` name the rules and
dashboards use is one the worker really exports.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alerts.model import SeriesRef
from alerts.personal import LabelMask
from streams.dev.embedded_broker import EmbeddedBroker, free_port, terminate
from streams.dev.simulator.config import SimulationConfig
from streams.dev.simulator.generator import simulate
from streams.dev.simulator.incidents import CustomerBurst
from streams.dev.simulator.kafka import produce_events
from streams.runtime.config import Settings
from tests.deploy.promql_names import exposed_metric_names, metric_names
from tests.deploy.test_alerting_e2e import (  # noqa: F401 - fixtures used by name
    NOTIFY_TIMEOUT_S,
    WebhookReceiver,
    alertmanager,
    anomaly,
    prometheus,
    wait_until,
    webhook,
)
from tests.deploy.test_deploy_promql_names import RECORDED, dashboard_exprs, rule_entries
from tests.worker_process import child_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RULES = Path(__file__).parents[1] / "integration" / "data" / "fast_rules.toml"
START = datetime(2026, 11, 2, tzinfo=UTC)
BURST_AT = START + timedelta(hours=20)


def metrics_text(address: str) -> str:
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as reply:
        return reply.read().decode()


@pytest.fixture(scope="module")
def real_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A worker fed 20 h of traffic that ends while a customer burst's episode is open
    (its first window has closed, the calm window that would resolve it has not)."""
    workdir = tmp_path_factory.mktemp("worker")
    with EmbeddedBroker(log_path=workdir / "tansu.log") as broker:
        port = free_port()
        # Default web host (loopback) and default personal labels (hashed).
        env = {
            **{
                k: v
                for k, v in os.environ.items()
                if k not in ("AFTERSALES_WEB_HOST", "AFTERSALES_PERSONAL_LABELS")
            },
            "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
            "AFTERSALES_RULES_FILE": str(RULES),
            "AFTERSALES_WEB_PORT": str(port),
            "AFTERSALES_LOG_FORMAT": "json",
        }
        with open(workdir / "worker.log", "wb") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "streams.cli.main", "worker"],
                env=child_env(env),
                cwd=workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        address = f"127.0.0.1:{port}"
        try:
            wait_until(lambda: _ready(address), 60, "worker ready")
            config = SimulationConfig(
                seed=9,
                start=START,
                duration=timedelta(hours=20, minutes=16),
                orders_per_day=3_000,
                incidents=(
                    CustomerBurst(
                        start=BURST_AT,
                        customer_id="C-0000077",
                        address_id="A-0000077",
                        magnitude=12.0,
                    ),
                ),
            )
            asyncio.run(produce_events(simulate(config), broker.bootstrap_servers))
            wait_until(
                lambda: 'rule="customer_order_burst"' in _info(address),
                90,
                "the burst episode on /metrics",
            )
            yield address
        finally:
            terminate(worker)


def listen_addresses(port: int) -> set[str]:
    """IPv4 addresses with a listening TCP socket on ``port`` (from /proc/net/tcp)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:
            found.add(".".join(str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0)))
    return found


def _ready(address: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{address}/health", timeout=5) as reply:
            return reply.status == 200
    except OSError:
        return False


def _info(address: str) -> str:
    try:
        return "\n".join(
            line
            for line in metrics_text(address).splitlines()
            if line.startswith("aftersales_alert_info{")
        )
    except OSError:
        return ""


@pytest.fixture(scope="module")
def scrape_target(real_worker: str) -> str:
    """Prometheus scrapes the real worker."""
    return real_worker


class TestRealWorker:
    def test_metrics_listen_on_loopback_only(self, real_worker: str) -> None:
        """With no AFTERSALES_WEB_HOST the worker's port is bound to 127.0.0.1, not 0.0.0.0."""
        port = int(real_worker.rsplit(":", 1)[1])
        assert listen_addresses(port) == {"127.0.0.1"}

    def test_no_customer_or_address_id_on_metrics(self, real_worker: str) -> None:
        """The burst's customer and address ids never appear on /metrics (hashed labels)."""
        text = metrics_text(real_worker)
        assert 'rule="customer_order_burst"' in text
        assert "C-0000077" not in text and "A-0000077" not in text

    def test_rules_and_dashboards_use_only_exported_metrics(self, real_worker: str) -> None:
        """Every aftersales_* name in the shipped PromQL is exported by the running worker."""
        exported = exposed_metric_names(metrics_text(real_worker))
        used = {name for rule in rule_entries() for name in metric_names(rule["expr"])}
        used |= {name for _, expr in dashboard_exprs() for name in metric_names(expr)}
        unknown = {
            name
            for name in used
            if name.startswith("aftersales_") and name not in RECORDED and name not in exported
        }
        assert unknown == set()

    def test_burst_reaches_the_webhook_with_runbook(
        self, prometheus: object, webhook: WebhookReceiver, real_worker: str
    ) -> None:
        """The worker's open burst episode is routed by Alertmanager with labels and texts."""
        line = next(row for row in _info(real_worker).splitlines() if "customer_order_burst" in row)
        alert_id = line.split('alert_id="', 1)[1].split('"', 1)[0]
        path, body = webhook.wait_for(
            lambda p, b: anomaly(b, alert_id) is not None, NOTIFY_TIMEOUT_S * 2, f"for {alert_id}"
        )
        alert = anomaly(body, alert_id)
        assert alert is not None
        assert alert["labels"]["rule"] == "customer_order_burst"
        assert alert["labels"]["dimension"] in {"customer", "address"}
        mask = LabelMask("hash", Settings.from_env({}).personal_labels_secret)
        hashed = {
            mask.key(SeriesRef("customer_order_burst", "customer", "C-0000077")),
            mask.key(SeriesRef("customer_order_burst", "address", "A-0000077")),
        }
        assert alert["labels"]["key"] in hashed
        assert "0000077" not in str(alert)
        assert path in {"/hook/chat", "/hook/paging"}
        assert "Review the orders" in alert["annotations"]["runbook"]
        assert alert["annotations"]["summary"]
