"""Live parity for the rules of issue 12 and the sku price episodes: the worker over Kafka
publishes exactly the alerts ``replay`` computes (as ``test_parity``), on a run whose
incidents make every new rule fire."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from streams.cli.demo import best_seller
from streams.dev.embedded_broker import EmbeddedBroker
from streams.dev.simulator.config import SimulationConfig
from streams.dev.simulator.generator import simulate
from streams.dev.simulator.incidents import (
    BadReviewWave,
    CancellationSpike,
    HandleTimeSurge,
    SatisfactionDrop,
    WrongPrice,
)
from streams.pipeline.replay import ReplayPipeline
from streams.rules.catalogue import load_rules
from tests.integration.test_parity import assert_episode_order, canonical, live_alerts

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RULES = Path(__file__).parent / "data" / "signal_rules.toml"
START = datetime(2026, 11, 2, tzinfo=UTC)
PARTITIONS = 3
NEW_RULES = {"handle_time_p90", "low_satisfaction_share", "bad_review_rate", "cancellation_rate"}


def scenario() -> SimulationConfig:
    """Three simulated days; the incidents on the second and third."""
    day = timedelta(days=1)
    hour = timedelta(hours=1)
    base = SimulationConfig(seed=11, start=START, duration=3 * day, orders_per_day=4_000)
    return replace(
        base,
        incidents=(
            BadReviewWave(start=START + day, duration=day, sku=best_seller(base), magnitude=8.0),
            HandleTimeSurge(
                start=START + day + 14 * hour, duration=4 * hour, queue="returns", magnitude=3.0
            ),
            SatisfactionDrop(
                start=START + 2 * day + 9 * hour, duration=6 * hour, queue="returns", magnitude=5.0
            ),
            CancellationSpike(start=START + 2 * day + 12 * hour, duration=4 * hour, magnitude=30.0),
            WrongPrice(
                start=START + 2 * day + 16 * hour,
                duration=2 * hour,
                sku=best_seller(base),
                magnitude=0.1,
            ),
        ),
    )


class TestSignalParity:
    async def test_live_alerts_equal_replay(
        self, broker: EmbeddedBroker, topic_prefix: str
    ) -> None:
        """Same events, same rules: the alerts topic and replay agree on every field, the
        new rules and the sku price episode included."""
        rules = load_rules(RULES)
        events = list(simulate(scenario()))
        replay = ReplayPipeline(rules, partitions=PARTITIONS)
        expected = [
            a.to_dict()
            for a in replay.run(
                (e.topic, e.key.encode(), json.dumps(e.value, separators=(",", ":")).encode())
                for e in events
            )
        ]
        seen = {a["rule"] for a in expected}
        assert seen >= NEW_RULES, f"scenario too quiet: {sorted(NEW_RULES - seen)}"
        assert any(a["rule"] == "order_outlier" and a["dimension"] == "sku" for a in expected), (
            "no sku price episode"
        )

        alerts = await live_alerts(broker, topic_prefix, rules, events, len(expected), 180)
        assert canonical(alerts) == canonical(expected)
        assert_episode_order(alerts)
