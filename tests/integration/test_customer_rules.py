"""The customer and address rules of issue 13 through Kafka: the worker, fed five days of
plain traffic with one shared address (six new customers within 50 minutes) and one
customer returning all eight of its orders, publishes their alerts on the alerts topic,
equal field for field to what ``replay`` computes."""

from __future__ import annotations

import json

import pytest

from streams.dev.embedded_broker import EmbeddedBroker
from streams.dev.simulator.events import Event
from streams.pipeline.replay import ReplayPipeline
from tests.integration.test_parity import PARTITIONS, assert_episode_order, canonical, live_alerts
from tests.unit.scenarios.test_customer_rules import DAY, HOUR, MIN, T0, traffic
from tests.unit.scenarios.test_noise_floor import shipped

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def events() -> list[Event]:
    """Five days; the shared address on day 3, the eight returns on day 4."""
    drop = T0 + 3 * DAY + 13 * HOUR
    placed = T0 + 10 * HOUR
    injected = [(drop + k * 10 * MIN, f"C-NEW-{k}", "A-DROP", False) for k in range(6)] + [
        (placed + k * 5 * MIN, "C-RET", "A-RET", True) for k in range(8)
    ]
    return [
        Event(r["value"]["ts"], r["topic"], r["value"][r["key"]], r["value"])
        for r in traffic(6, 5, injected)
    ]


class TestCustomerRulesLive:
    async def test_injected_cases_reach_the_alerts_topic(
        self, broker: EmbeddedBroker, topic_prefix: str
    ) -> None:
        rules = shipped("frequent_returner", "shared_address")
        sent = events()
        replay = ReplayPipeline(rules, partitions=PARTITIONS)
        expected = [
            a.to_dict()
            for a in replay.run(
                (e.topic, e.key.encode(), json.dumps(e.value, separators=(",", ":")).encode())
                for e in sent
            )
        ]
        firing = {(a["rule"], a["key"]) for a in expected if a["status"] == "firing"}
        assert firing == {("shared_address", "A-DROP"), ("frequent_returner", "C-RET")}

        alerts = await live_alerts(broker, topic_prefix, rules, sent, len(expected), 240)
        assert canonical(alerts) == canonical(expected)
        assert_episode_order(alerts)
        live = {(a["rule"], a["key"], a["class"]) for a in alerts if a["status"] == "firing"}
        assert live == {
            ("shared_address", "A-DROP", "fraud"),
            ("frequent_returner", "C-RET", "fraud"),
        }
