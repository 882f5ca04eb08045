"""Waits judged at the queue's usual channel mix (``strata = "channel"``) through Kafka: the
per-channel sums cross the partials topic and the worker publishes exactly the alerts
``replay`` computes, the x6 wait surge among them."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from streams.dev.embedded_broker import EmbeddedBroker
from streams.pipeline.replay import ReplayPipeline
from streams.rules.catalogue import RuleSet, parse_rules
from tests.integration.test_parity import (
    PARTITIONS,
    RULES,
    canonical,
    live_alerts,
    parity_events,
    records,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def strata_rules() -> RuleSet:
    """The parity rules with the shipped way of judging waits: log-means per channel."""
    document: dict[str, Any] = tomllib.loads(RULES.read_text(encoding="utf-8"))
    wait = document["rules"]["wait_time_p90"]
    wait.update(window="30m", hop="15m", statistic="log_mean", strata="channel")
    wait["detector"]["min_sample_size"] = 2
    return parse_rules(document)


async def test_strata_cross_the_partials_topic(broker: EmbeddedBroker, topic_prefix: str) -> None:
    rules = strata_rules()
    events = parity_events()
    replay = ReplayPipeline(rules, partitions=PARTITIONS)
    expected = [a.to_dict() for a in replay.run(records(events))]
    learned = replay.closer.spreads.levels
    assert any(sid.startswith("wait_time_p90:") and len(v) >= 2 for sid, v in learned.items()), (
        "no channel levels learned"
    )
    surge = [a for a in expected if a["rule"] == "wait_time_p90" and a["status"] == "firing"]
    assert any(a["key"] == "returns" for a in surge), "the x6 surge on returns did not fire"

    alerts = await live_alerts(broker, topic_prefix, rules, events, len(expected), 120)
    assert canonical(alerts) == canonical(expected)
