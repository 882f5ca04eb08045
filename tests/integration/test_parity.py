"""Live parity: the worker over Kafka publishes exactly the alerts ``replay`` computes."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from prometheus_client import CollectorRegistry

from alerts.metrics import AlertMetrics
from alerts.text import AlertTexts
from streams.cli.demo import best_seller
from streams.contract.events import TOPICS
from streams.dev.embedded_broker import EmbeddedBroker
from streams.dev.simulator.config import SimulationConfig
from streams.dev.simulator.events import Event
from streams.dev.simulator.generator import simulate
from streams.dev.simulator.incidents import CustomerBurst, OrderDrop, WaitTimeSurge, WrongPrice
from streams.dev.simulator.kafka import produce_events
from streams.pipeline.replay import ReplayPipeline
from streams.rules.catalogue import RuleSet, load_rules
from streams.runtime.config import Settings
from streams.runtime.worker import Worker

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RULES = Path(__file__).parent / "data" / "fast_rules.toml"
START = datetime(2026, 11, 2, tzinfo=UTC)
PARTITIONS = 3


def scenario() -> SimulationConfig:
    """Two simulated days with four incidents on the second."""
    day2 = START + timedelta(days=1)
    base = SimulationConfig(seed=5, start=START, duration=timedelta(days=2), orders_per_day=5_000)
    return replace(
        base,
        incidents=(
            WrongPrice(
                start=day2 + timedelta(hours=9),
                duration=timedelta(hours=3),
                sku=best_seller(base),
                magnitude=0.1,
            ),
            CustomerBurst(
                start=day2 + timedelta(hours=11),
                customer_id="C-0000007",
                address_id="A-0000007",
                magnitude=12.0,
            ),
            WaitTimeSurge(
                start=day2 + timedelta(hours=13),
                duration=timedelta(hours=3),
                queue="returns",
                magnitude=6.0,
            ),
            OrderDrop(
                start=day2 + timedelta(hours=15),
                duration=timedelta(hours=2),
                channel="app",
                magnitude=0.05,
            ),
        ),
    )


@functools.cache
def _parity_events() -> tuple[Event, ...]:
    return tuple(simulate(scenario()))


def parity_events() -> list[Event]:
    """The events of :func:`scenario` (about 52,000), simulated once per test session: ten
    integration tests feed them to a worker, and simulating them costs seconds each time.
    Tests only read them (a fresh list, the same events)."""
    return list(_parity_events())


def records(events: Iterable[Event]) -> Iterator[tuple[str, bytes, bytes]]:
    """Simulated events as the input records ``replay`` reads."""
    return (
        (e.topic, e.key.encode(), json.dumps(e.value, separators=(",", ":")).encode())
        for e in events
    )


@functools.cache
def _parity_replay() -> tuple[dict, ...]:  # type: ignore[type-arg]
    pipeline = ReplayPipeline(load_rules(RULES), partitions=PARTITIONS)
    return tuple(a.to_dict() for a in pipeline.run(records(_parity_events())))


def parity_replay() -> list[dict]:  # type: ignore[type-arg]
    """What ``replay`` publishes for :func:`parity_events` with ``RULES`` on ``PARTITIONS``
    partitions and the default (English) texts, computed once per test session: the
    expectation of the parity, recovery, failover, outage, poison and hostile tests.
    Tests only read the alerts (a fresh list, the same dicts)."""
    return list(_parity_replay())


def canonical(alerts: list[dict]) -> Counter[str]:  # type: ignore[type-arg]
    return Counter(json.dumps(a, sort_keys=True) for a in alerts)


class TestParity:
    @pytest.mark.parametrize("locale", ["en", "zh_CN"])
    async def test_live_alerts_equal_replay(
        self, broker: EmbeddedBroker, topic_prefix: str, locale: str
    ) -> None:
        """Same events, same rules: the alerts topic and replay agree on every field, in
        either locale (AFTERSALES_LOCALE reaches the worker's summaries and runbooks)."""
        rules = load_rules(RULES)
        events = parity_events()
        replay = ReplayPipeline(rules, partitions=PARTITIONS, texts=AlertTexts(locale=locale))  # type: ignore[arg-type]
        expected = [a.to_dict() for a in replay.run(records(events))]
        rules_seen = {a["rule"] for a in expected}
        assert {"order_outlier", "customer_order_burst"} <= rules_seen, "scenario too quiet"
        assert rules_seen & {"wait_time_p90", "wait_sla_breach_share"}, "scenario too quiet"

        alerts = await live_alerts(
            broker, topic_prefix, rules, events, len(expected), 120, AFTERSALES_LOCALE=locale
        )
        assert canonical(alerts) == canonical(expected)
        assert_episode_order(alerts)
        if locale == "zh_CN":
            assert all(a["summary"].endswith("。") for a in alerts)
            assert any("为平时的" in a["summary"] or "正常值" in a["summary"] for a in alerts)


_RANK = {"info": 1, "warning": 2, "critical": 3}


def assert_episode_order(alerts: list[dict]) -> None:  # type: ignore[type-arg]
    """Per alert_id on the topic: one or more ``firing`` (an escalation repeats it with a
    higher severity), then at most one ``resolved``."""
    by_id: dict[str, list[tuple[str, int]]] = {}
    for alert in alerts:
        by_id.setdefault(alert["alert_id"], []).append((alert["status"], _RANK[alert["severity"]]))
    for alert_id, events in by_id.items():
        statuses = [status for status, _ in events]
        firings = [rank for status, rank in events if status == "firing"]
        assert statuses[0] == "firing" and "firing" not in statuses[len(firings) :], (
            f"episode order broken on the topic: {alert_id} {statuses}"
        )
        assert statuses.count("resolved") <= 1, f"{alert_id} resolved twice"
        assert firings == sorted(set(firings)), f"{alert_id}: severity not rising {firings}"


def assert_same_alerts(
    alerts: list[dict],
    expected: list[dict],  # type: ignore[type-arg]
    log: str = "",
) -> None:
    """No ``(alert_id, status, severity)`` twice, and the alerts equal ``expected`` field
    for field; on failure, say what is extra and missing (and show ``log``)."""
    repeated = [
        key
        for key, n in Counter((a["alert_id"], a["status"], a["severity"]) for a in alerts).items()
        if n > 1
    ]
    assert repeated == [], f"published twice: {repeated}"
    got, want = canonical(alerts), canonical(expected)
    extra = [json.loads(a) for a in (got - want)]
    missing = [json.loads(a) for a in (want - got)]

    def brief(items: list[dict]) -> list[tuple[str, ...]]:  # type: ignore[type-arg]
        return [(a["rule"], a["status"], a["key"], a["window_end"]) for a in items][:10]

    assert not extra and not missing, (
        f"{len(extra)} extra {brief(extra)}; {len(missing)} missing {brief(missing)}; "
        f"{len({a['alert_id'] for a in extra} & {a['alert_id'] for a in missing})} shared ids"
        f"\n{log[-4000:]}"
    )


async def live_alerts(
    broker: EmbeddedBroker,
    topic_prefix: str,
    rules: RuleSet,
    events: list,
    expected: int,
    timeout_s: float,  # type: ignore[type-arg]
    **env: str,
) -> list[dict]:  # type: ignore[type-arg]
    """Run a worker on ``broker`` (its own topics and consumer groups under
    ``topic_prefix``; ``env`` adds settings, e.g. ``AFTERSALES_LOCALE``), produce
    ``events``, and return the first ``expected`` alerts on the alerts topic."""
    settings = Settings.from_env(
        {
            "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
            "AFTERSALES_TOPIC_PREFIX": topic_prefix,
            "AFTERSALES_APP_ID": f"{topic_prefix}app",  # own consumer groups per test
            "AFTERSALES_TOPIC_PARTITIONS": str(PARTITIONS),
            **env,
        }
    )
    worker = Worker(settings, rules, AlertMetrics.create(CollectorRegistry(), topics=TOPICS))
    task = asyncio.create_task(worker.run())
    try:
        await asyncio.wait_for(worker.started.wait(), 90)
        await produce_events(events, broker.bootstrap_servers, topic_prefix)
        return await collect_alerts(broker, f"{topic_prefix}alerts", expected, timeout_s)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def collect_alerts(
    broker: EmbeddedBroker, topic: str, expected: int, timeout_s: float
) -> list[dict]:  # type: ignore[type-arg]
    """Read the alerts topic until ``expected`` alerts and 3 s of silence, or the timeout."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=broker.bootstrap_servers, auto_offset_reset="earliest"
    )
    await consumer.start()
    alerts: list[dict] = []  # type: ignore[type-arg]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    quiet_since = loop.time()
    try:
        while loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            got = [json.loads(m.value) for msgs in batch.values() for m in msgs]
            if got:
                alerts.extend(got)
                quiet_since = loop.time()
            elif len(alerts) >= expected and loop.time() - quiet_since > 3:
                break
    finally:
        await consumer.stop()
    return alerts
