"""End to end on loopback: exporter -> Prometheus -> Alertmanager -> webhook, all real servers.

Prometheus runs the shipped rules and Alertmanager the shipped routing.

The scrape target is the ``scrape_target`` fixture ("host:port"); here it is a
tiny prometheus_client exporter with two open alert episodes. To run the same
test against the real worker, override ``scrape_target`` with a fixture that
starts the worker and returns its metrics address.
"""

from __future__ import annotations

import json
import queue
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from tests.deploy.render import render_alertmanager_config, render_prometheus_config, write_yaml

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LOOPBACK = "127.0.0.1"
STARTUP_TIMEOUT_S = 30.0
NOTIFY_TIMEOUT_S = 60.0

INFO_LABELS = [
    "rule",
    "dimension",
    "key",
    "severity",
    "direction",
    "alert_id",
    "summary",
    "runbook",
    "group",
]
CRITICAL_EPISODE = {
    "rule": "order_volume",
    "dimension": "channel",
    "key": "app",
    "severity": "critical",
    "direction": "down",
    "alert_id": "e2e-critical",
    "summary": "App orders fell to 12 in 15 min against a usual 140.",
    "runbook": "Check the app checkout and payment provider status page.",
    "group": "channel",
}
WARNING_EPISODE = {
    "rule": "return_rate",
    "dimension": "region,carrier",
    "key": "north,dhl",
    "severity": "warning",
    "direction": "up",
    "alert_id": "e2e-warning",
    "summary": "Return rate for north,dhl is 18% against a usual 6%.",
    "runbook": "Ask DHL North about damaged parcels and pause the affected route.",
    "group": "region,carrier",
}

#: A folded incident and two of the alerts it explains: one Alertmanager group.
INCIDENT_EPISODES = [
    {
        "rule": "return_rate",
        "dimension": "incident",
        "key": "region,carrier=west,bluebox",
        "severity": "warning",
        "direction": "up",
        "alert_id": "e2e-incident",
        "summary": "return_rate: 2 series out of band under region,carrier west,bluebox",
        "runbook": "Check region,carrier west,bluebox first.",
        "group": "e2e-incident",
    },
    *(
        {
            "rule": "return_rate",
            "dimension": "sku",
            "key": sku,
            "severity": "warning",
            "direction": "up",
            "alert_id": f"e2e-child-{sku}",
            "summary": f"{sku} returns up",
            "runbook": "Check the listing.",
            "group": "e2e-incident",
        }
        for sku in ("SKU-1", "SKU-2")
    ),
]


def free_port() -> int:
    """Return a TCP port that is free on loopback right now."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def wait_until(
    check: Callable[[], bool], timeout_s: float, what: str, log: Path | None = None
) -> None:
    """Poll ``check`` until true; after ``timeout_s`` fail naming ``what``, with a log tail."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    pytest.fail(f"timed out after {timeout_s:.0f}s waiting for {what}\n{tail}")


def http_ok(url: str) -> bool:
    """Tell whether GET ``url`` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@dataclass
class Server:
    """A started server process and where it listens."""

    process: subprocess.Popen[bytes]
    address: str
    log: Path


def start_server(args: list[str], address: str, log: Path) -> Iterator[Server]:
    """Start a server, wait for /-/ready, yield it, and always stop it."""
    with log.open("wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until(
            lambda: process.poll() is None and http_ok(f"http://{address}/-/ready"),
            STARTUP_TIMEOUT_S,
            f"{args[0]} ready on {address}",
            log,
        )
        yield Server(process, address, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@dataclass
class FakeWorker:
    """A prometheus_client exporter standing in for the worker."""

    address: str
    registry: CollectorRegistry
    alert_info: Gauge


@dataclass
class WebhookReceiver:
    """A loopback HTTP server recording every webhook POST as (path, JSON body)."""

    url: str
    received: queue.Queue[tuple[str, dict[str, Any]]] = field(default_factory=queue.Queue)
    seen: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def wait_for(
        self, match: Callable[[str, dict[str, Any]], bool], timeout_s: float, what: str
    ) -> tuple[str, dict[str, Any]]:
        """Return the first notification (earlier or arriving) for which ``match`` is true."""
        for path, body in self.seen:
            if match(path, body):
                return path, body
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                path, body = self.received.get(timeout=left)
            except queue.Empty:
                break
            self.seen.append((path, body))
            if match(path, body):
                return path, body
        pytest.fail(f"no webhook notification {what} within {timeout_s:.0f}s; got {self.seen!r}")


@pytest.fixture(scope="module")
def fake_worker() -> Iterator[FakeWorker]:
    """Serve two open alert episodes and some health series on a free loopback port."""
    registry = CollectorRegistry()
    alert_info = Gauge(
        "aftersales_alert_info", "Open alert episodes.", INFO_LABELS, registry=registry
    )
    for episode in (CRITICAL_EPISODE, WARNING_EPISODE, *INCIDENT_EPISODES):
        alert_info.labels(**episode).set(1)
    Gauge("aftersales_broker_connected", "Kafka connection.", registry=registry).set(1)
    events = Counter("aftersales_events_total", "Events.", ["topic", "outcome"], registry=registry)
    events.labels("orders", "ok").inc(100)
    port = free_port()
    server, thread = start_http_server(port, addr=LOOPBACK, registry=registry)
    try:
        yield FakeWorker(f"{LOOPBACK}:{port}", registry, alert_info)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def scrape_target(fake_worker: FakeWorker) -> str:
    """The metrics address (host:port) Prometheus scrapes; override it to use the real worker."""
    return fake_worker.address


@pytest.fixture(scope="module")
def webhook() -> Iterator[WebhookReceiver]:
    """Run a loopback webhook receiver for Alertmanager's notifications."""
    received: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received.put((self.path, json.loads(body)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield WebhookReceiver(f"http://{LOOPBACK}:{server.server_address[1]}/hook", received)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def alertmanager(
    alertmanager_bin: str, webhook: WebhookReceiver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """Run the real Alertmanager with the shipped routing and receivers rewritten to the webhook."""
    workdir = tmp_path_factory.mktemp("alertmanager")
    config = write_yaml(render_alertmanager_config(webhook.url), workdir / "alertmanager.yml")
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


@pytest.fixture(scope="module")
def prometheus(
    prometheus_bin: str,
    scrape_target: str,
    alertmanager: Server,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Server]:
    """Run the real Prometheus with the shipped rules, scraping ``scrape_target`` every second."""
    workdir = tmp_path_factory.mktemp("prometheus")
    config = write_yaml(
        render_prometheus_config(scrape_target, alertmanager.address), workdir / "prometheus.yml"
    )
    address = f"{LOOPBACK}:{free_port()}"
    yield from start_server(
        [
            prometheus_bin,
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address={address}",
        ],
        address,
        workdir / "prometheus.log",
    )


def anomaly(body: dict[str, Any], alert_id: str, status: str = "firing") -> dict[str, Any] | None:
    """Return the notification's AftersalesAnomaly alert for one episode and status, if present."""
    for alert in body.get("alerts", []):
        labels = alert["labels"]
        if (
            labels.get("alertname") == "AftersalesAnomaly"
            and labels.get("alert_id") == alert_id
            and alert["status"] == status
        ):
            return alert
    return None


class TestAlertingEndToEnd:
    @pytest.mark.parametrize(
        ("episode", "receiver"),
        [(CRITICAL_EPISODE, "paging"), (WARNING_EPISODE, "chat")],
        ids=["critical", "warning"],
    )
    def test_episode_is_notified_with_labels_and_annotations(
        self, prometheus: Server, webhook: WebhookReceiver, episode: dict[str, str], receiver: str
    ) -> None:
        """An open episode reaches its severity's receiver with its labels and annotations."""
        path, body = webhook.wait_for(
            lambda p, b: anomaly(b, episode["alert_id"]) is not None,
            NOTIFY_TIMEOUT_S,
            f"for {episode['alert_id']}",
        )
        alert = anomaly(body, episode["alert_id"])
        assert path == f"/hook/{receiver}" and body["receiver"] == receiver
        assert {k: alert["labels"].get(k) for k in ("rule", "dimension", "key", "severity")} == {
            k: episode[k] for k in ("rule", "dimension", "key", "severity")
        }
        assert {k: alert["annotations"].get(k) for k in ("summary", "runbook")} == {
            "summary": episode["summary"],
            "runbook": episode["runbook"],
        }

    def test_notification_is_grouped_by_rule_and_group(
        self, prometheus: Server, webhook: WebhookReceiver
    ) -> None:
        """The notification's group labels are the alertname, rule and group (here the
        dimension)."""
        _, body = webhook.wait_for(
            lambda p, b: anomaly(b, "e2e-warning") is not None, NOTIFY_TIMEOUT_S, "for e2e-warning"
        )
        assert body["groupLabels"] == {
            "alertname": "AftersalesAnomaly",
            "rule": "return_rate",
            "group": "region,carrier",
        }

    def test_folded_incident_is_one_notification(
        self, prometheus: Server, webhook: WebhookReceiver
    ) -> None:
        """An incident and the alerts it explains share the group label: one notification
        carries all three."""
        _, body = webhook.wait_for(
            lambda p, b: anomaly(b, "e2e-incident") is not None,
            NOTIFY_TIMEOUT_S,
            "for e2e-incident",
        )
        assert body["groupLabels"] == {
            "alertname": "AftersalesAnomaly",
            "rule": "return_rate",
            "group": "e2e-incident",
        }
        assert {a["labels"]["alert_id"] for a in body["alerts"]} == {
            "e2e-incident",
            "e2e-child-SKU-1",
            "e2e-child-SKU-2",
        }

    def test_resolved_episode_is_notified_as_resolved(
        self, prometheus: Server, webhook: WebhookReceiver, fake_worker: FakeWorker
    ) -> None:
        """When the episode's series disappears, the receiver gets a resolved notification."""
        webhook.wait_for(
            lambda p, b: anomaly(b, "e2e-warning") is not None, NOTIFY_TIMEOUT_S, "for e2e-warning"
        )
        fake_worker.alert_info.remove(*(WARNING_EPISODE[k] for k in INFO_LABELS))
        path, _ = webhook.wait_for(
            lambda p, b: anomaly(b, "e2e-warning", "resolved") is not None,
            NOTIFY_TIMEOUT_S,
            "resolving e2e-warning",
        )
        assert path == "/hook/chat"
