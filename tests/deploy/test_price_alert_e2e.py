"""A mispriced SKU, end to end: simulator -> replay pipeline -> the service's own metrics ->
the real Prometheus (shipped rules) -> the real Alertmanager (shipped routing) -> webhook.

The scrape target is a registry filled by :class:`alerts.metrics.AlertMetrics` from the
alerts a replay of a simulated day and a half computes, stopped while the SKU's episode is
open: dozens of per-order alerts, one SKU episode.
"""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, start_http_server

from alerts.metrics import AlertMetrics
from alerts.model import AlertEvent
from streams.cli.demo import best_seller
from streams.contract.events import TOPICS
from streams.dev.simulator.config import SimulationConfig
from streams.dev.simulator.generator import simulate
from streams.dev.simulator.incidents import WrongPrice
from streams.pipeline.replay import ReplayPipeline
from streams.rules.catalogue import load_rules
from tests.deploy.test_alerting_e2e import (  # noqa: F401 - fixtures
    LOOPBACK,
    NOTIFY_TIMEOUT_S,
    WebhookReceiver,
    alertmanager,
    free_port,
    prometheus,
    webhook,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RULES = Path(__file__).parents[1] / "integration" / "data" / "fast_rules.toml"
START = datetime(2026, 11, 2, tzinfo=UTC)
INCIDENT = START + timedelta(days=1, hours=9)
#: The replay stops here: the wrong price has sold for an hour, the episode is open.
CUT = INCIDENT + timedelta(hours=1)


def _alerts() -> tuple[str, list[AlertEvent]]:
    base = SimulationConfig(seed=5, start=START, duration=timedelta(days=2), orders_per_day=5_000)
    sku = best_seller(base)
    config = replace(
        base,
        incidents=(
            WrongPrice(start=INCIDENT, duration=timedelta(hours=3), sku=sku, magnitude=0.1),
        ),
    )
    cut_ms = int(CUT.timestamp() * 1000)
    records = (
        (e.topic, e.key.encode(), json.dumps(e.value, separators=(",", ":")).encode())
        for e in simulate(config)
        if e.ts_ms < cut_ms
    )
    return sku, list(ReplayPipeline(load_rules(RULES), partitions=3).run(records))


@pytest.fixture(scope="module")
def replayed() -> tuple[str, list[AlertEvent]]:
    """The mispriced SKU and every alert the replay computed up to the cut."""
    return _alerts()


@pytest.fixture(scope="module")
def scrape_target(replayed: tuple[str, list[AlertEvent]]) -> Iterator[str]:
    """Serve the metrics the worker would export after those alerts."""
    registry = CollectorRegistry()
    metrics = AlertMetrics.create(registry, topics=TOPICS)
    for event in replayed[1]:
        metrics.record_alert(event)
    port = free_port()
    server, thread = start_http_server(port, addr=LOOPBACK, registry=registry)
    try:
        yield f"{LOOPBACK}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _price_alerts(body: dict) -> list[dict]:  # type: ignore[type-arg]
    return [
        a
        for a in body.get("alerts", [])
        if a["labels"].get("rule") == "order_outlier" and a["status"] == "firing"
    ]


class TestMispricedSku:
    def test_replay_gives_many_order_alerts_and_one_sku_episode(
        self, replayed: tuple[str, list[AlertEvent]]
    ) -> None:
        """Per-order verdicts stay on the topic; the SKU has exactly one open episode."""
        sku, alerts = replayed
        orders = [a for a in alerts if a.rule == "order_outlier" and a.dimension == "order"]
        episodes = [a for a in alerts if a.rule == "order_outlier" and a.dimension == "sku"]
        assert len(orders) >= 5
        assert [(a.key, a.status) for a in episodes] == [(sku, "firing")]
        assert set(episodes[0].context["orders"]) <= {a.key for a in orders}

    def test_one_page_for_the_sku_with_its_order_ids(
        self, prometheus, webhook: WebhookReceiver, replayed: tuple[str, list[AlertEvent]]
    ) -> None:
        """Alertmanager pages once for the SKU, naming it and its affected orders."""
        sku, alerts = replayed
        episode = next(a for a in alerts if a.rule == "order_outlier" and a.dimension == "sku")
        path, body = webhook.wait_for(
            lambda p, b: bool(_price_alerts(b)), NOTIFY_TIMEOUT_S, "for the mispriced sku"
        )
        assert path == "/hook/paging"
        page = _price_alerts(body)
        assert len(page) == 1
        labels = page[0]["labels"]
        assert (labels["dimension"], labels["key"], labels["severity"], labels["class"]) == (
            "sku",
            sku,
            "critical",
            "pricing",
        )
        summary = page[0]["annotations"]["summary"]
        assert sku in summary
        assert all(order in summary for order in episode.context["orders"][:5])
        # Nothing else about order_outlier is notified, on any receiver (a few group
        # intervals of the test routing later).
        deadline = time.monotonic() + 5
        while (left := deadline - time.monotonic()) > 0:
            try:
                webhook.seen.append(webhook.received.get(timeout=left))
            except queue.Empty:
                break
        every = [a for _, b in webhook.seen for a in _price_alerts(b)]
        assert {a["labels"]["alert_id"] for a in every} == {episode.alert_id}
